"""Readiness checks over the config and the release bundle: one small pure function per check.

Each takes the ``Evidence`` snapshot and returns verified / failed / missing with one sentence
and the evidence key. Nothing here reads a file, the store or the network.
"""

from __future__ import annotations

from launchgate.readiness.evidence import Evidence
from launchgate.readiness.models import CheckResult, failed, missing, verified
from launchgate.verdicts import Phase

CONFIG = "release.yaml"
NO_RELEASE = "no release bundle to read: run `launchgate release` (or give --release ID)"


def input_schema_enforced(ev: Evidence) -> CheckResult:
    c = ev.config.contracts
    if not c.input_schema_enforced:
        return failed("contracts.input_schema_enforced is false: set it true so invalid inputs are rejected", CONFIG)
    if ev.manifest is None:
        return missing(f"contracts.input_schema_enforced is true but {NO_RELEASE} to confirm the schema's hash")
    digest = ev.manifest.get("hashes", {}).get("input_schema")
    if not digest:
        return failed("the release manifest has no input_schema hash: the schema was not pinned",
                      ev.key("manifest.json"))
    return verified(f"input schema enforced (contracts.input_schema_enforced), pinned at sha256 {digest[:12]}",
                    ev.key("manifest.json"))


def output_schema_enforced(ev: Evidence) -> CheckResult:
    if not ev.config.contracts.output_schema_enforced:
        return failed("contracts.output_schema_enforced is false: set it true so answers are validated", CONFIG)
    found = ev.verdict("schema_validity")
    if not found:
        return missing(f"contracts.output_schema_enforced is true, but no schema_validity verdict: {NO_RELEASE}")
    return verified(f"output schema enforced; the eval measured it: {found[0].reason}",
                    ev.key("eval/schema_validation.json"))


def context_capped(ev: Evidence) -> CheckResult:
    cap = ev.config.contracts.max_context_chars
    probe = ev.probe
    if probe is None or probe.error:
        why = probe.error if probe and probe.error else "no gateway to probe"
        return missing(f"max_context_chars={cap} is configured, but a request over the cap was not sent through "
                       f"the gateway ({why}): the runtime cap is unproven")
    if probe.context_status is None:
        return missing(f"max_context_chars={cap} is configured, but this gateway has no context guard to probe "
                       f"(no 413 context_too_long): the runtime cap is unproven")
    if probe.context_status != 413:
        return failed(f"a request of {cap + 1} characters got HTTP {probe.context_status} from the gateway, not "
                      f"413 context_too_long: the cap is not enforced", probe.url)
    return verified(f"a request of {cap + 1} characters was refused by the gateway (413 context_too_long)", probe.url)


def rate_limits(ev: Evidence) -> CheckResult:
    g = ev.config.guardrails
    if g is None:
        return missing("no guardrails: section, so the gateway enforces no rate limit")
    rl = g.rate_limit
    if rl is None or (rl.requests_per_minute is None and rl.tokens_per_minute is None):
        return failed("guardrails.rate_limit sets neither requests_per_minute nor tokens_per_minute", CONFIG)
    return verified(f"the gateway limits each {rl.key} to {rl.requests_per_minute or '-'} requests and "
                    f"{rl.tokens_per_minute or '-'} tokens per minute (guardrails.rate_limit)", CONFIG)


def circuit_breaker(ev: Evidence) -> CheckResult:
    g = ev.config.guardrails
    if g is None:
        return missing("no guardrails: section, so the gateway has no circuit breaker")
    b = g.breaker
    if not b.enabled:
        return failed("guardrails.breaker.enabled is false: a failing upstream gets every request", CONFIG)
    return verified(f"the gateway's breaker opens at {b.failure_rate:g}% failures over {b.window_s:g} s "
                    f"(at least {b.min_requests} calls) for {b.open_s:g} s", CONFIG)


def output_tokens_capped(ev: Evidence) -> CheckResult:
    cap = ev.config.contracts.max_output_tokens
    if ev.load_report is None:
        return verified(f"contracts.max_output_tokens={cap} is configured (sent as max_tokens)", CONFIG)
    sent = ev.load_report.get("plan", {}).get("max_output_tokens")
    if sent is not None and sent > cap:
        return failed(f"the load test asked for {sent} output tokens, above the cap {cap}",
                      ev.key("load/loadtest_report.json"))
    return verified(f"contracts.max_output_tokens={cap}; the load test used {sent}",
                    ev.key("load/loadtest_report.json"))


def prompt_versioned(ev: Evidence) -> CheckResult:
    if ev.manifest is None:
        return missing(NO_RELEASE)
    cand = ev.manifest.get("candidate", {})
    if not cand.get("prompt_version") or not cand.get("prompt_sha256"):
        return failed("the manifest lacks the candidate's prompt version or sha256", ev.key("manifest.json"))
    schema = ev.manifest.get("hashes", {}).get("output_schema")
    if not schema:
        return failed("the manifest lacks the output schema's sha256", ev.key("manifest.json"))
    return verified(f"prompt {cand['prompt_version']} (sha256 {cand['prompt_sha256'][:12]}) and output schema "
                    f"(sha256 {schema[:12]}) recorded", ev.key("manifest.json"))


def dataset_hash(ev: Evidence) -> CheckResult:
    if ev.manifest is None:
        return missing(NO_RELEASE)
    digest = ev.manifest.get("hashes", {}).get("golden_set")
    if not digest:
        return failed("the manifest has no golden_set hash", ev.key("manifest.json"))
    if ev.eval_report is None:
        return missing(f"dataset sha256 {digest[:12]} recorded, but no eval report carries the score")
    if ev.eval_report.get("meta", {}).get("dataset_sha256") != digest:
        return failed("the eval report's dataset_sha256 differs from the manifest's: the score is not of this "
                      "golden set", ev.key("eval/eval_report.json"))
    return verified(f"dataset sha256 {digest[:12]} stored with the eval score", ev.key("eval/eval_report.json"))


def eval_automated(ev: Evidence) -> CheckResult:
    if ev.eval_report is None:
        return missing(f"no eval report: {NO_RELEASE}")
    checks = [v.get("check") for v in ev.eval_report.get("verdicts", [])]
    if "eval_score" not in checks and "eval_gate" not in checks:
        return failed("the eval report has no eval_score verdict: the gate did not decide",
                      ev.key("eval/eval_report.json"))
    return verified(f"the eval gate ran in the pipeline ({len(checks)} verdicts)", ev.key("eval/eval_report.json"))


def eval_passed(ev: Evidence) -> CheckResult:
    found = ev.verdict("eval_score") + ev.verdict("eval_gate")
    if not found:
        return missing(f"no eval_score verdict: {NO_RELEASE}")
    bad = next((v for v in found if v.blocks), None)
    if bad is not None:
        return failed(bad.reason, ev.key("eval/eval_report.json"))
    return verified(found[0].reason, ev.key("eval/eval_report.json"))


def schema_validity(ev: Evidence) -> CheckResult:
    found = ev.verdict("schema_validity")
    if not found:
        return missing(f"no schema_validity verdict: {NO_RELEASE}")
    v = found[0]
    if v.phase is not Phase.SUCCESSFUL or (isinstance(v.value, int | float) and v.value < 0.99):
        return failed(v.reason, ev.key("eval/schema_validation.json"))
    return verified(v.reason, ev.key("eval/schema_validation.json"))


def cost_per_request(ev: Evidence) -> CheckResult:
    found = ev.verdict("cost_per_request")
    if not found:
        return missing(f"no cost_per_request verdict: {NO_RELEASE}")
    v = found[0]
    return (failed if v.blocks else verified)(v.reason, ev.key("eval/eval_report.json"))


def eval_report(ev: Evidence) -> CheckResult:
    if ev.eval_report is None:
        return missing(f"no eval report: {NO_RELEASE}")
    verdicts = ev.eval_report.get("verdicts", [])
    cand = ev.eval_report.get("variants", {}).get("candidate", {})
    if "score" not in cand or not any(v.get("threshold") is not None for v in verdicts):
        return failed("the eval report lacks the candidate's score or the thresholds", ev.key("eval/eval_report.json"))
    return verified(f"eval report with score {cand['score']:.3f} and {len(verdicts)} thresholded verdicts",
                    ev.key("eval/eval_report.json"))


def baseline_stored(ev: Evidence) -> CheckResult:
    if ev.eval_report is None:
        return missing(f"no eval report: {NO_RELEASE}")
    base, comp = ev.eval_report.get("baseline"), ev.eval_report.get("comparison")
    if not base or not comp:
        return failed("the eval report has no baseline comparison", ev.key("eval/eval_report.json"))
    delta = comp.get("delta")
    return verified(f"compared with {base.get('kind', 'baseline')} {base.get('model', '')} on {comp.get('cases')} "
                    f"cases (delta {delta:+.3f})" if isinstance(delta, int | float) else "baseline comparison stored",
                    ev.key("eval/eval_report.json"))


def golden_set(ev: Evidence) -> CheckResult:
    if ev.golden_tags is None:
        return missing("the golden set could not be read (see evaluation.golden_set)")
    if ev.golden_cases < 20:
        return failed(f"the golden set has {ev.golden_cases} cases; at least 20 are needed to judge a release",
                      str(ev.config.evaluation.golden_set))
    return verified(f"golden set of {ev.golden_cases} cases", str(ev.config.evaluation.golden_set))


def _tag_floor(ev: Evidence, tag: str, what: str) -> CheckResult:
    if ev.golden_tags is None:
        return missing("the golden set could not be read (see evaluation.golden_set)")
    need = ev.config.readiness.golden_min_tags.get(tag, 1)
    have = ev.golden_tags.get(tag, 0)
    where = str(ev.config.evaluation.golden_set)
    if have < need:
        return failed(f"{have} golden cases tagged {tag!r} ({what}), need at least {need}: add them", where)
    return verified(f"{have} golden cases tagged {tag!r} ({what}) >= {need}", where)


def golden_edge(ev: Evidence) -> CheckResult:
    return _tag_floor(ev, "edge", "edge cases")


def golden_harmful(ev: Evidence) -> CheckResult:
    return _tag_floor(ev, "harmful", "harmful-output tests")


def load_2x(ev: Evidence) -> CheckResult:
    lt = ev.config.load_test
    if ev.load_report is None:
        why = "load_test.enabled is false" if not lt.enabled else NO_RELEASE
        return missing(f"no load test report ({why})")
    rps = ev.load_report.get("plan", {}).get("target_rps") or 0
    want = 2 * lt.expected_peak_rps
    key = ev.key("load/loadtest_report.json")
    if rps < want:
        return failed(f"load tested at {rps:g} req/s, below 2x the expected peak ({want:g} req/s)", key)
    if ev.load_report.get("phase") != "successful":
        return failed(f"the load test at {rps:g} req/s ended {ev.load_report.get('phase')}: its SLOs were not met", key)
    return verified(f"load tested at {rps:g} req/s (2x peak {lt.expected_peak_rps:g}) within its SLOs", key)


def latency_slos(ev: Evidence) -> CheckResult:
    slo = ev.config.load_test.slo
    p95, rollback_p95 = slo.p95_ms, ev.config.rollback.latency_p95_threshold_ms
    if p95 > rollback_p95:
        return failed(f"the load SLO p95 {p95:g} ms is looser than the canary's rollback threshold "
                      f"{rollback_p95:g} ms: a release could pass its load test and still be rolled back", CONFIG)
    return verified(f"SLOs: p95 <= {p95:g} ms under load, error rate <= {getattr(slo, 'error_rate', 0):g}%; canary "
                    f"rollback at p95 {ev.config.rollback.latency_p95_threshold_ms:g} ms, errors "
                    f"{ev.config.rollback.error_rate_threshold:g}%", CONFIG)


def rollback_drill(ev: Evidence) -> CheckResult:
    limit = ev.config.readiness.drill_max_age_days
    recent = [d for d in ev.drills if (ev.now - d.at).total_seconds() <= limit * 86400]
    if not ev.drills:
        return missing("no rollback drill on record: run the release with canary.enabled, or the rollback-drill "
                       "deployment")
    if not recent:
        newest = max(ev.drills, key=lambda d: d.at)
        return failed(f"the newest rollback drill is {(ev.now - newest.at).days} days old (limit {limit}): run one",
                      newest.key)
    newest = max(recent, key=lambda d: d.at)
    if newest.phase != "successful":
        return failed(f"the newest rollback drill ({newest.at:%Y-%m-%d}) ended {newest.phase}", newest.key)
    took = f" in {newest.rollback_s:.1f} s" if newest.rollback_s is not None else ""
    return verified(f"rollback drill on {newest.at:%Y-%m-%d} rolled back{took} (within {limit} days, well under "
                    f"30 minutes)", newest.key)


def canary_defined(ev: Evidence) -> CheckResult:
    c, rb = ev.config.canary, ev.config.rollback
    ran = ev.canary_summary is not None
    if rb.error_rate_threshold >= 50 or rb.latency_p95_threshold_ms >= 60_000:
        return failed(f"rollback thresholds (errors {rb.error_rate_threshold:g}%, p95 "
                      f"{rb.latency_p95_threshold_ms:g} ms) would never roll a canary back: tighten them", CONFIG)
    if not c.enabled and not ran:
        return missing("canary.enabled is false and no canary ran for this release: the rollout plan is configured "
                       "but unproven")
    if c.enabled and c.strategy != "canary":  # the shadow step ran before readiness: read its verdict
        shadow = ev.verdict("shadow_quality")
        then = " then canary " + " -> ".join(f"{p:g}%" for p in c.plan) if c.strategy == "shadow_then_canary" else ""
        sh = ev.config.shadow
        result = f"; this release's shadow: {shadow[0].phase.value}" if shadow else ""
        return verified(f"shadow on {sh.sample:.0%} of live requests, blocked when worse than stable by "
                        f"{sh.margin:.0%}{then}{result}", ev.key("shadow/shadow_summary.json") if shadow else CONFIG)
    plan = " -> ".join(f"{p:g}%" for p in c.plan)
    how = "ran for this release" if ran else "enabled"
    return verified(f"canary {how}: {plan}, rolled back automatically at errors > {rb.error_rate_threshold:g}% or "
                    f"p95 > {rb.latency_p95_threshold_ms:g} ms",
                    ev.key("canary/canary_summary.json") if ran else CONFIG)


def canary_summary(ev: Evidence) -> CheckResult:
    if ev.canary_summary is None:
        why = "the canary step of this release writes it after sign-off" if ev.in_release else "no canary summary"
        return missing(f"{why} (canary/canary_summary.json)")
    if "final_stats" not in ev.canary_summary or "verdicts" not in ev.canary_summary:
        return failed("the canary summary lacks its final stats or verdicts", ev.key("canary/canary_summary.json"))
    return verified(f"canary {ev.canary_summary.get('result', '?')}: {ev.canary_summary.get('reason', '')}",
                    ev.key("canary/canary_summary.json"))


def budget_caps(ev: Evidence) -> CheckResult:
    b = ev.config.budget
    if b.alert_usd >= b.daily_usd:
        return failed(f"budget.alert_usd {b.alert_usd:g} is not below budget.daily_usd {b.daily_usd:g}: the alarm "
                      f"would fire only at the cap", CONFIG)
    return verified(f"daily cap ${b.daily_usd:g}, alert at ${b.alert_usd:g}, pipeline cap ${b.pipeline_daily_usd:g}",
                    ev.key("readiness/evidence.json") if ev.bundle_key else CONFIG)


def cost_alert_route(ev: Evidence) -> CheckResult:
    o = ev.config.owners
    target = o.oncall or o.operations
    if not target:
        return failed("owners.oncall (or owners.operations) is not set: cost alerts have nowhere to go", CONFIG)
    role = "oncall" if o.oncall else "operations"
    muted = [e for e in ("budget_alert", "budget_stop") if e in ev.config.notifications.mute.get(role, [])]
    if muted:
        return failed(f"notifications.mute silences {', '.join(muted)} for {role}: unmute them", CONFIG)
    notifier = ev.config.notifications.notifier
    if notifier == "console":
        return missing(f"cost alerts go to {target} only through the console notifier (a log, not an on-call "
                       f"channel): set notifications.notifier: slack")
    return verified(f"cost alerts routed to {target} via {notifier}", CONFIG)


def budget_owner(ev: Evidence) -> CheckResult:
    if not ev.config.owners.budget:
        return failed("owners.budget is not set: name the budget owner's channel", CONFIG)
    return verified(f"budget owner channel {ev.config.owners.budget}", CONFIG)


MAX_TIMEOUT_S = 60.0  # p99 bounded: past a minute a user has given up and the call only holds a slot


def timeouts(ev: Evidence) -> CheckResult:
    c, s = ev.config.candidate, ev.config.stable
    if max(c.timeout_s, s.timeout_s) > MAX_TIMEOUT_S:
        return failed(f"a model call may hang {max(c.timeout_s, s.timeout_s):g} s (candidate {c.timeout_s:g} s, "
                      f"stable {s.timeout_s:g} s): bound it at {MAX_TIMEOUT_S:g} s or less", CONFIG)
    return verified(f"every model call has a timeout: candidate {c.timeout_s:g} s, stable {s.timeout_s:g} s", CONFIG)


def retries(ev: Evidence) -> CheckResult:
    c = ev.config.candidate
    if c.max_retries > 5:
        return failed(f"candidate.max_retries is {c.max_retries}: more than 5 retries multiplies load in an outage",
                      CONFIG)
    return verified(f"at most {c.max_retries} retries with exponential backoff per call", CONFIG)


def approvals_configured(ev: Evidence) -> CheckResult:
    a = ev.config.approvals
    lacking = [r for r in ("engineering", "operations") if r not in a.required_roles or not a.approvers.get(r)]
    if lacking:
        return failed(f"approvals lack {' and '.join(lacking)} (required_roles with named approvers)", CONFIG)
    return verified(f"engineering ({', '.join(a.approvers['engineering'])}) and operations "
                    f"({', '.join(a.approvers['operations'])}) sign every release", CONFIG)


def owners_set(ev: Evidence) -> CheckResult:
    o = ev.config.owners
    lacking = [r for r in ("product", "engineering", "operations") if not getattr(o, r)]
    if lacking:
        return failed(f"owners.{', owners.'.join(lacking)} not set", CONFIG)
    return verified(f"owners: product {o.product}, engineering {o.engineering}, operations {o.operations}", CONFIG)


def model_pinned(ev: Evidence) -> CheckResult:
    model = ev.config.candidate.model
    if model.endswith(":latest") or model in ("latest", "default"):
        return failed(f"candidate.model {model!r} is a moving alias: pin the deployment name", CONFIG)
    return verified(f"model deployment name fixed: {model}", CONFIG)


def config_hashed(ev: Evidence) -> CheckResult:
    if ev.manifest is None:
        return missing(NO_RELEASE)
    digest = ev.manifest.get("hashes", {}).get("config")
    if not digest:
        return failed("the manifest has no config hash", ev.key("manifest.json"))
    return verified(f"config sha256 {digest[:12]} recorded in the manifest", ev.key("manifest.json"))


def review_template(ev: Evidence) -> CheckResult:
    if ev.review is None:
        why = "finalize writes review.json at the end of this release" if ev.in_release else "no review.json"
        return missing(why)
    labels = {line.get("label") for line in ev.review.get("lines", [])}
    want = {"Release ID", "Prompt version", "Dataset hash", "Eval score", "Canary results", "Rollback tested"}
    if not want <= labels:
        return failed(f"review.md lacks {', '.join(sorted(want - labels))}", ev.key("review.json"))
    return verified("review.md has release id, prompt version, dataset hash, eval score, canary results and "
                    "rollback tested", ev.key("review.json"))


def dashboards(ev: Evidence) -> CheckResult:
    link = (ev.canary_summary or {}).get("dashboard") or {}
    if link.get("url"):
        return verified(f"the canary's dashboard link is in the release evidence: {link['url']}",
                        ev.key("canary/canary_summary.json"))
    grafana = ev.config.observability.grafana_url
    url = ev.config.readiness.dashboard_url
    if grafana:
        return verified(f"Grafana at {grafana} (observability.grafana_url): every canary summary links its dashboard",
                        CONFIG)
    if not url:
        return missing("no dashboard link: set observability.grafana_url (launchgate observability writes the "
                       "dashboard) or readiness.dashboard_url")
    if not url.startswith(("http://", "https://")):
        return failed(f"readiness.dashboard_url {url!r} is not a link a person can open", CONFIG)
    return verified(f"dashboard {url}", url)


ALERTS_WANTED = ("LaunchgateErrorRateHigh", "LaunchgateLatencyP95High")


def alert_rules(ev: Evidence) -> CheckResult:
    prom = ev.config.observability.prometheus_url
    if ev.config.readiness.alert_rules:
        text, rules = ev.alert_rules_text, ev.config.readiness.alert_rules
        if text is None:
            return failed(f"readiness.alert_rules {rules} cannot be read")
        lowered = text.lower()
        if "alert:" not in lowered or "error" not in lowered or "latency" not in lowered:
            return failed("the alert rules lack an error-rate or a latency alert", rules)
        return verified(f"error-rate and latency alerts in {rules}", rules)
    if not prom:
        return missing("no alert rules: set observability.prometheus_url and load the rules `launchgate "
                       "observability --out DIR` writes (or name a rules file in readiness.alert_rules)")
    if ev.alert_names is None:
        return missing(f"the alerts loaded in Prometheus were not read: {ev.prometheus_note}")
    lacking = [a for a in ALERTS_WANTED if a not in ev.alert_names]
    if lacking:
        return failed(f"Prometheus at {prom} has no {', '.join(lacking)} alert ({len(ev.alert_names)} alerting "
                      f"rules loaded): load the rules `launchgate observability --out DIR` writes", prom)
    return verified(f"Prometheus at {prom} has the error-rate and latency alerts loaded "
                    f"({len(ev.alert_names)} alerting rules)", prom)


def runbook(ev: Evidence) -> CheckResult:
    if not ev.config.readiness.runbook:
        return missing("no runbook: set readiness.runbook to the incident runbook file")
    if ev.runbook_sha256 is None:
        return failed(f"readiness.runbook {ev.runbook_path} does not exist or cannot be read")
    return verified(f"runbook {ev.runbook_path} (sha256 {ev.runbook_sha256[:12]})", ev.runbook_path)
