"""Change management: the config's sha256 at every release and gateway start, what changed since the
last promoted release, and whether the output schema stays backward compatible.

- ``record_config``: one line per release or gateway start in ``<service>/state/config_audit.jsonl``
  (event, sha256 of the release.yaml bytes, release id, host), appended with a conditional update.
- ``config_diff``: the changed fields between two configs, as ``path: old -> new``, with every value
  under a secret-like name (token, secret, password, key...) and URL credentials masked.
- ``schema_verdict``: the candidate's output schema against the last promoted release's, checked by
  jsoncompat in the serializer role (the model writes answers, existing consumers read them): a
  breaking change fails unless ``data.output_schema_change`` gives a note and a deprecation window
  that has not ended.

``change_verdicts(run)`` does all three for a release, stores ``change/output_schema.json`` (the next
release's baseline) and ``change/config_diff.json`` in the bundle, and returns the verdicts.
"""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import jsoncompat

from launchgate.config import ReleaseConfig
from launchgate.config.files import read_json
from launchgate.errors import DataFileError, StoreError
from launchgate.store import layout
from launchgate.store.base import ArtifactStore
from launchgate.store.bundle import JSONL_TYPE
from launchgate.store.jsonio import find_object
from launchgate.verdicts import Phase, Verdict

if TYPE_CHECKING:
    from launchgate.release.preflight import ReleaseRun

SCHEMA_EVIDENCE = "change/output_schema.json"
DIFF_EVIDENCE = "change/config_diff.json"
MASK = "***"
_SECRETISH = re.compile(r"(?i)(token|secret|password|passwd|api[_-]?key|private[_-]?key|credential)")
_URL_CREDS = re.compile(r"(?<=://)[^/@\s]+@")
MAX_DIFF_LINES = 200


def record_config(store: ArtifactStore, service: str, event: str, digest: str, *,
                  release_id: str | None = None, now: datetime | None = None) -> None:
    """Append the config file's sha256 for ``event`` (release, gateway_start)."""
    line = json.dumps({"at": (now or datetime.now(UTC)).isoformat(), "event": event, "config_sha256": digest,
                       "release_id": release_id, "host": socket.gethostname()}) + "\n"
    store.update(layout.config_audit(service), lambda old: (old or b"") + line.encode("utf-8"), JSONL_TYPE)


def _mask(path: str, value: Any) -> Any:
    if value is None:
        return None
    if _SECRETISH.search(path.rsplit(".", 1)[-1]) and not path.endswith("_env"):
        return MASK  # a name of an env var is not a secret; anything else under such a name might be
    if isinstance(value, str):
        return _URL_CREDS.sub(MASK + "@", value)
    return value


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{path}.{k}" if path else str(k)))
        return out
    return {path: value}


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``path: old -> new`` for every changed leaf (lists compared whole), secrets masked (pure)."""
    a, b = _flatten(old), _flatten(new)
    lines = []
    for path in sorted(a.keys() | b.keys()):
        if a.get(path) != b.get(path) or (path in a) != (path in b):
            was = json.dumps(_mask(path, a.get(path)), default=str) if path in a else "(absent)"
            now = json.dumps(_mask(path, b.get(path)), default=str) if path in b else "(absent)"
            lines.append(f"{path}: {was} -> {now}")
    return lines


def _comparable(schema: Any) -> str:
    # jsoncompat resolves only local "#/..." references; "$id" makes every one look remote.
    if isinstance(schema, dict):
        schema = {k: v for k, v in schema.items() if k not in ("$id", "$schema")}
    return json.dumps(schema, sort_keys=True)


def schema_verdict(old: Any, new: Any, previous_release: str, config: ReleaseConfig, today: date) -> Verdict:
    """The output-schema compatibility verdict (pure)."""
    check = "output_schema_compatible"
    if _comparable(old) == _comparable(new):
        return Verdict(check=check, phase=Phase.SUCCESSFUL, value=True, evidence=SCHEMA_EVIDENCE,
                       reason=f"The output schema is unchanged since the last promoted release {previous_release}.")
    try:
        compatible = jsoncompat.check_compat(_comparable(old), _comparable(new), "serializer")
    except ValueError as exc:
        return Verdict(check=check, phase=Phase.ERROR, evidence=SCHEMA_EVIDENCE,
                       reason=f"Cannot compare the output schema with {previous_release}'s ({str(exc)[:200]}); "
                              "inline remote $refs, then rerun.")
    if compatible:
        return Verdict(check=check, phase=Phase.SUCCESSFUL, value=True, evidence=SCHEMA_EVIDENCE,
                       reason=f"The output schema changed since {previous_release} in a backward-compatible way: "
                              "every answer it allows, consumers of the old schema accept.")
    change = config.data.output_schema_change
    if change is not None and change.deprecation_until >= today:
        return Verdict(check=check, phase=Phase.SUCCESSFUL, value=False, threshold=str(change.deprecation_until),
                       evidence=SCHEMA_EVIDENCE,
                       reason=f"The output schema breaks consumers of {previous_release}'s; accepted with the "
                              f"compatibility note \"{change.note}\" and the old shape supported until "
                              f"{change.deprecation_until}.")
    ended = (f" The deprecation window in data.output_schema_change ended on {change.deprecation_until}."
             if change is not None else "")
    return Verdict(check=check, phase=Phase.FAILED, value=False, evidence=SCHEMA_EVIDENCE,
                   reason=f"The output schema is not backward compatible with {previous_release}'s: consumers of the "
                          f"old schema would reject some answers.{ended} Make the change compatible, or add "
                          "data.output_schema_change with a note for consumers and a deprecation_until date.")


def last_promoted(store: ArtifactStore, service: str) -> str | None:
    lkg = find_object(store, layout.last_known_good(service))
    release_id = (lkg or {}).get("release_id")
    return release_id if isinstance(release_id, str) else None


def change_verdicts(run: ReleaseRun) -> list[Verdict]:
    """Config sha recorded, config diff and schema compatibility against the last promoted release."""
    config, store, service = run.config, run.store, run.config.service
    manifest = run.manifest
    schema = read_json(config.contracts.output_schema, "output schema (contracts.output_schema)")
    try:
        record_config(store, service, "release", manifest.hashes["config"], release_id=run.release_id)
        if not run.bundle.exists(SCHEMA_EVIDENCE):
            run.bundle.put_json(SCHEMA_EVIDENCE, schema)
        previous = last_promoted(store, service)
    except StoreError as exc:  # a check that cannot be made is an error verdict (it blocks), never a crash
        return [Verdict(check="output_schema_compatible", phase=Phase.ERROR, evidence=SCHEMA_EVIDENCE,
                        reason=f"Cannot record the config or read the last promoted release ({exc}); "
                               "retry the release once the store is reachable.")]
    if previous is None or previous == run.release_id:
        return [Verdict(check="output_schema_compatible", phase=Phase.SUCCESSFUL, evidence=SCHEMA_EVIDENCE,
                        reason=f"No earlier promoted release of {service} to compare with; this release's output "
                               "schema is stored as the baseline.")]
    try:
        old_schema = find_object(store, layout.release_key(service, previous, SCHEMA_EVIDENCE))
        old_manifest = find_object(store, layout.release_key(service, previous, "manifest.json")) or {}
    except (StoreError, DataFileError) as exc:
        return [Verdict(check="output_schema_compatible", phase=Phase.ERROR, evidence=SCHEMA_EVIDENCE,
                        reason=f"Cannot read the last promoted release {previous}'s records ({exc}).")]
    diff = config_diff(old_manifest.get("config") or {}, manifest.config)[:MAX_DIFF_LINES]
    if not run.bundle.exists(DIFF_EVIDENCE):
        run.bundle.put_json(DIFF_EVIDENCE, {"since": previous, "config_sha256_before":
                                            (old_manifest.get("hashes") or {}).get("config"),
                                            "config_sha256": manifest.hashes.get("config"), "changes": diff})
    if old_schema is None:
        return [Verdict(check="output_schema_compatible", phase=Phase.SUCCESSFUL, evidence=SCHEMA_EVIDENCE,
                        reason=f"The last promoted release {previous} stored no output schema (an earlier "
                               "launchgate); this release's is stored as the baseline.")]
    return [schema_verdict(old_schema, schema, previous, config, datetime.now(UTC).date())]


def config_change_line(store: ArtifactStore, bundle_key: str) -> tuple[str, bool]:
    """The release review's line: the changed fields since the last promoted release (already masked),
    and whether the comparison record exists (the line's evidence)."""
    try:
        record = find_object(store, bundle_key)
    except StoreError as exc:  # the review is still written while the store is down; it says what it could not read
        return f"not compared: the comparison could not be read ({exc})", False
    if record is None:
        return "not compared: no promoted release before this one, or the comparison did not run", False
    changes = record.get("changes") or []
    if not changes:
        return f"none since the last promoted release {record.get('since')}", True
    shown = "; ".join(changes[:20]) + (f"; and {len(changes) - 20} more" if len(changes) > 20 else "")
    return f"{len(changes)} since {record.get('since')}: {shown}", True
