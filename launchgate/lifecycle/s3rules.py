"""Do the bucket's lifecycle rules delete at least as early as the data policy asks, and never a
promoted release's bundle before the audit period? Pure over the rules as S3 returns them.

A rule covers a kind when it is enabled, filters on no tag and its prefix is a prefix of the kind's
keys (no prefix: the whole bucket). For logs and queues the earliest covering expiration must be
at most the policy's days; otherwise the verdict names the rule to add. For evidence bundles the
reverse: a covering rule that expires them before ``audit_days`` would delete promoted releases'
evidence early. Shadow pairs sit inside bundles (``releases/<id>/shadow/``), which a prefix cannot
select: the retention deployment alone expires them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from launchgate.verdicts import Phase, Verdict

CHECK = "s3_lifecycle"


def _prefix(rule: Mapping[str, Any]) -> str | None:
    """The rule's key prefix ("" = whole bucket), or None when it filters on tags or sizes too."""
    if "Prefix" in rule:  # the legacy top-level form
        return str(rule["Prefix"] or "")
    flt = rule.get("Filter") or {}
    if set(flt) - {"Prefix"}:
        return None
    return str(flt.get("Prefix") or "")


def expiry_days(rules: list[Mapping[str, Any]], key_prefix: str) -> tuple[int | None, str | None]:
    """Earliest expiration (days) of the enabled rules covering ``key_prefix``, and that rule's id."""
    best: tuple[int | None, str | None] = (None, None)
    for rule in rules:
        prefix = _prefix(rule)
        days = (rule.get("Expiration") or {}).get("Days")
        if rule.get("Status") != "Enabled" or prefix is None or days is None or not key_prefix.startswith(prefix):
            continue
        if best[0] is None or int(days) < best[0]:
            best = (int(days), str(rule.get("ID") or f"prefix {prefix or '(whole bucket)'}"))
    return best


def lifecycle_verdicts(rules: list[Mapping[str, Any]], bucket: str, kinds: Mapping[str, tuple[str, int]],
                       evidence_prefixes: list[str], audit_days: int) -> list[Verdict]:
    """``kinds``: kind -> (full key prefix, policy days) that the bucket must expire no later than."""
    out = []
    for kind, (prefix, days) in kinds.items():
        have, rule = expiry_days(rules, prefix)
        if have is not None and have <= days:
            out.append(Verdict(check=f"{CHECK}:{kind}", phase=Phase.SUCCESSFUL, value=have, threshold=days,
                               reason=f"s3://{bucket}/{prefix}: rule {rule} expires {kind} after {have} days, "
                                      f"within the policy's {days}."))
            continue
        found = f"the earliest covering rule ({rule}) waits {have} days" if have is not None else "no rule covers it"
        out.append(Verdict(check=f"{CHECK}:{kind}", phase=Phase.FAILED, value=have, threshold=days,
                           reason=f"s3://{bucket}/{prefix}: {found}, the policy keeps {kind} {days} days. Missing "
                                  f"rule: Filter.Prefix={prefix!r}, Expiration.Days<={days} (infra/terraform)."))
    for prefix in evidence_prefixes:
        have, rule = expiry_days(rules, prefix)
        if have is not None and have < audit_days:
            out.append(Verdict(check=f"{CHECK}:evidence", phase=Phase.FAILED, value=have, threshold=audit_days,
                               reason=f"s3://{bucket}/{prefix}: rule {rule} deletes bundles after {have} days, before "
                                      f"the audit period ({audit_days} days) that promoted releases must be kept. "
                                      f"Raise its Expiration.Days to at least {audit_days}."))
        else:
            out.append(Verdict(check=f"{CHECK}:evidence", phase=Phase.SUCCESSFUL, value=have, threshold=audit_days,
                               reason=f"s3://{bucket}/{prefix}: no rule expires bundles before the audit period "
                                      f"({audit_days} days)."))
    return out
