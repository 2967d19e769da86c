"""The `launchgate` command line.

Exit codes: 0 promoted/passed, 1 internal error, 2 invalid input, 3 blocked by a gate,
4 rolled back. ``release`` prints one JSON object as its last line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from launchgate.cli.resultline import LineOnUsageError, exit_error, exit_invalid, print_line
from launchgate.errors import InputError, LaunchgateError

EXIT_INPUT = 2


def _fail_input(exc: InputError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_INPUT)


class _Bar:
    """A one-line progress bar on stderr (redrawn in place on a TTY, every 25% otherwise)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_quarter: dict[str, int] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        if self.tty:
            filled = int(frac * 30)
            end = "\n" if done >= total else ""
            sys.stderr.write(f"\r{step:>8} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}{end}")
            sys.stderr.flush()
        else:
            quarter = int(frac * 4)
            if quarter > self.last_quarter.get(step, -1):
                self.last_quarter[step] = quarter
                sys.stderr.write(f"{step}: {done}/{total} ({frac:.0%})\n")


def _prefect_defaults() -> None:
    """Embedded-mode defaults, set before Prefect is imported; the user's own env wins."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A fresh ephemeral database runs its migrations first: 20 s (Prefect's default) is too
    # tight on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="launchgate")
def main() -> None:
    """launchgate: gates, evidence and rollouts for LLM releases."""


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="release.yaml of the service")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config field")
def validate(config_path: Path, overrides: tuple[str, ...]) -> None:
    """Check release.yaml and every file it names; list every problem with its field path."""
    from launchgate.config import load_config, parse_overrides
    from launchgate.release.preflight import load_inputs

    try:
        config = load_config(config_path, parse_overrides(overrides))
        inputs = load_inputs(config, config_path)
    except InputError as exc:
        _fail_input(exc)
    click.echo(f"ok: {config_path} is valid (service {config.service}, {len(inputs.cases)} golden cases)")


def _exit_without_teardown(code: int) -> None:
    """Exit now, skipping the interpreter's teardown: with GX, pandas and matplotlib loaded, freeing
    every module and object takes 1.5-2.5 s after the check is done, written and flushed. Only for a
    real process: under click's CliRunner (stdout has no file descriptor) a normal exit."""
    import logging

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        sys.exit(code)
    logging.shutdown()
    os._exit(code)


@main.command(cls=LineOnUsageError)
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="release.yaml of the service")
@click.option("--artifacts", default=None,
              help="where the check's evidence goes (a folder, file:///path or s3://bucket/prefix), under "
                   "<service>/checks/<id>/; default: a new temporary directory, never the release store")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config field")
@click.option("--junit", "junit_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="also write a JUnit XML report: one test case per verdict, for the CI to display")
@click.option("--json", "as_json", is_flag=True, default=False,
              help="the last line also carries every step's verdicts, the skipped steps and the timings")
def check(config_path: Path, artifacts: str | None, overrides: tuple[str, ...], junit_path: Path | None,
          as_json: bool) -> None:
    """Run preflight, contracts and the eval gate in this process (no Prefect): the release's gates as a
    CI check for every prompt or schema change.

    Same verdicts, evidence files and exit codes as in a release: 0 passed, 2 invalid input, 3 blocked
    by a gate, 1 internal error. The last stdout line is one JSON object: release_id (the check's id),
    decision (passed, blocked, invalid or error), reasons and evidence.

    The evidence goes to a temporary directory unless --artifacts names a store: a check is not a
    release, so it stays out of the release history (audit, resume, the last-promoted baseline) and
    needs no write access to the release store. A last_promoted baseline is read from the service's
    store (LAUNCHGATE_ARTIFACTS_URI, else the config's artifacts.uri). Nothing is notified, nothing
    is booked on the pipeline ledger, no traffic moves.
    """
    from launchgate.notify import progress
    from launchgate.release.check import EXIT_CODES, CheckResult, run_check
    from launchgate.release.junit import junit_xml

    def finish(result: CheckResult) -> None:
        if result.traceback and os.environ.get("LAUNCHGATE_DEBUG"):
            click.echo(result.traceback, err=True, nl=False)
        code = result.exit_code
        if junit_path is not None:
            props = {k: str(v) for k, v in (("decision", result.decision), ("release_id", result.release_id),
                                            ("evidence", result.evidence)) if v}
            try:
                junit_path.write_bytes(junit_xml(result.suites(), name="launchgate check", properties=props))
            except OSError as exc:
                click.echo(f"error: cannot write --junit {junit_path}: {exc.strerror or exc}", err=True)
                code = code or EXIT_CODES["error"]
        line = result.model_dump(mode="json") if as_json else result.line()
        click.echo(json.dumps(line))
        _exit_without_teardown(code)

    if junit_path is not None and not junit_path.parent.is_dir():  # fail before any model is called
        problem = f"--junit {junit_path}: folder {junit_path.parent} does not exist"
        click.echo(f"error: {problem}", err=True)
        junit_path = None
        finish(CheckResult(decision="invalid", exit_code=EXIT_CODES["invalid"], summary=problem,
                           reasons=[problem]))

    def on_step(step: Any) -> None:
        state = "blocked" if step.blocks else "passed"
        click.echo(f"{step.step}: {state} ({len(step.verdicts)} checks) {step.summary}", err=True)

    unsubscribe = progress.subscribe(_Bar())
    try:
        result = run_check(config_path, artifacts=artifacts, sets=overrides, on_progress=progress.emit,
                           on_step=on_step)
    finally:
        unsubscribe()
    click.echo(f"\n{result.summary}" + (f"\nevidence: {result.evidence}" if result.evidence else ""), err=True)
    finish(result)


@main.command(cls=LineOnUsageError)
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--artifacts", default=None, help="artifact store URI: a folder, file:///path or s3://bucket/prefix")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config field")
@click.option("--auto-approve", is_flag=True, default=False,
              help="sign off as launchgate-auto (refused unless approvals.allow_auto_approve is true)")
@click.option("--resume", "resume", default=None, metavar="RELEASE_ID",
              help="rerun a release whose process died: a decided release keeps its decision, a promoted one "
                   "is not promoted again, anything else runs again under attempts/<n>/ (same candidate only)")
def release(config_path: Path, artifacts: str | None, overrides: tuple[str, ...], auto_approve: bool,
            resume: str | None) -> None:
    """Run the release flow for the candidate in CONFIG.

    Exit 0 passed or promoted, 2 invalid input (nothing started), 3 blocked by a gate, 4 rolled back,
    1 internal error. Whatever the code, the last stdout line is one JSON object: release_id,
    decision (passed, promoted, blocked, rolled_back, invalid or error), reasons and evidence.
    """
    from launchgate.config import load_config, parse_overrides
    from launchgate.governance.approvals import check_auto_approve
    from launchgate.release.preflight import load_inputs

    try:
        parsed = parse_overrides(overrides)
        config = load_config(config_path, parsed)
        load_inputs(config, config_path)  # fail fast, before Prefect starts
        check_auto_approve(config.approvals, auto_approve)
        if resume:
            from launchgate.release.preflight import check_resume

            click.echo(f"resume: {check_resume(config_path, resume, artifacts=artifacts, overrides=parsed).reason}",
                       err=True)
    except InputError as exc:
        exit_invalid(exc)
    except LaunchgateError as exc:  # e.g. --resume could not read the store
        exit_error(f"error: {exc}", str(exc))
    _prefect_defaults()

    from launchgate.notify import progress

    unsubscribe = progress.subscribe(_Bar())
    try:
        from flows.release import release as release_flow

        result: dict[str, Any] = release_flow(config=str(config_path), artifacts=artifacts, overrides=parsed,
                                              auto_approve=auto_approve, resume=resume)
    except InputError as exc:
        exit_invalid(exc)
    except LaunchgateError as exc:
        exit_error(f"error: {exc}", str(exc))
    except Exception as exc:  # noqa: BLE001 - users get one line, not a traceback
        if os.environ.get("LAUNCHGATE_DEBUG"):
            raise
        exit_error(f"internal error: {type(exc).__name__}: {exc} (set LAUNCHGATE_DEBUG=1 for a traceback)",
                   f"{type(exc).__name__}: {exc}")
    finally:
        unsubscribe()
    click.echo(f"\n{result['summary']}", err=True)
    print_line(result["release_id"], result["decision"], result["reasons"], result["evidence"])
    sys.exit(int(result["exit_code"]))


@main.command()
@click.option("--variants", "variants_file", default="examples/support-bot/variants.yaml", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("--variant", required=True, help="variant name in the variants file, e.g. stable")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=int)
def sim(variants_file: Path, variant: str, host: str, port: int) -> None:
    """Serve a simulated OpenAI-compatible model variant (the example service)."""
    from launchgate.sim.server import serve

    try:
        serve(variants_file, variant, host=host, port=port)
    except InputError as exc:
        _fail_input(exc)


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="release.yaml: stable/candidate become the upstreams, plus its optional gateway: section")
@click.option("--host", default=None, help="bind address (default: gateway.listen, loopback)")
@click.option("--port", default=None, type=int, help="port (default: gateway.port)")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config field")
def gateway(config_path: Path, host: str | None, port: int | None, overrides: tuple[str, ...]) -> None:
    """Run the release gateway: weighted proxy in front of stable and candidate, with admin API."""
    from launchgate.cli.data import RESOLVERS
    from launchgate.config import load_config, parse_overrides
    from launchgate.gateway.config import from_release_config
    from launchgate.gateway.secretset import GatewaySecrets
    from launchgate.privacy.gatewaystart import start_gateway_data_policy

    try:
        release_config = load_config(config_path, parse_overrides(overrides))
        cfg = from_release_config(release_config, host=host, port=port)
        if not cfg.access.admin_tokens:
            cfg.admin_token()  # the env var's own message when it is the only source
        token = GatewaySecrets.from_config(cfg, RESOLVERS)  # admin tokens and upstream keys, again on SIGHUP
        token.load()
        cfg.load_output_schema()  # fail before binding, not on the first request
        start_gateway_data_policy(release_config, config_path, cfg.log_store_uri, RESOLVERS)  # see docs/data.md
    except InputError as exc:
        _fail_input(exc)
    from launchgate.gateway.app import serve

    try:
        serve(cfg, token)
    except InputError as exc:  # e.g. notifier slack without a token, found when the app is built
        _fail_input(exc)
    except OSError as exc:  # e.g. the port is taken
        click.echo(f"error: cannot serve on {cfg.host}:{cfg.port}: {exc.strerror or exc}", err=True)
        sys.exit(1)


@main.command()
@click.argument("release_id")
@click.option("--role", required=True, type=click.Choice(["engineering", "operations", "product"]),
              help="the role you sign for")
@click.option("--as", "approver", required=True, help="your name, as listed under approvals.approvers")
@click.option("--reject", is_flag=True, default=False, help="reject the release (blocks it, exit 3)")
@click.option("--comment", default="", help="why; shown in the release review")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="the service's release.yaml; only read when the paused run did not publish who may sign "
                   "(a run started by an earlier launchgate)")
@click.option("--wait", "wait_s", default=None, type=click.FloatRange(0, 300), metavar="SECONDS",
              help="how long to wait for the run's answer (default: its approvals.poll_interval_s + 5 s, at "
                   "most 60); 0 = do not wait")
def approve(release_id: str, role: str, approver: str, reject: bool, comment: str, config_path: Path | None,
            wait_s: float | None) -> None:
    """Approve (or --reject) RELEASE_ID while its run waits for sign-off.

    Finds the paused flow run tagged release:RELEASE_ID through the Prefect API in PREFECT_API_URL.
    Who may sign is read from the paused run itself (the list it checks, with the release's --set
    overrides), so RELEASE_ID and PREFECT_API_URL are all you need. A name not listed for ROLE is
    refused here with exit 3, naming who may sign, and nothing is submitted. Otherwise the form is
    submitted and the command waits briefly for the run's answer: exit 0 accepted (or not answered
    yet: it says so), 3 refused by the run, 2 no paused run or bad input, 1 the Prefect API failed.
    """
    _prefect_defaults()
    from prefect.settings import PREFECT_API_URL

    from launchgate.cli.approve import sign

    if not PREFECT_API_URL.value():
        # Without a server, only runs started on this machine in ephemeral mode can be found.
        click.echo("note: PREFECT_API_URL is not set; looking in the local ephemeral Prefect database", err=True)

    try:
        result = sign(release_id, role, approver, "reject" if reject else "approve", comment,
                      config_path=config_path, wait_s=wait_s)
    except InputError as exc:
        _fail_input(exc)
    except LaunchgateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if result.warning:
        click.echo(f"warning: {result.warning}", err=True)
    click.echo(result.message, err=result.exit_code != 0)
    sys.exit(result.exit_code)


@main.command()
@click.option("--request-id", required=True, help="the request id from the gateway's response / request log")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="release.yaml: gives the service and the artifact store")
@click.option("--service", default=None, help="service name (instead of --config)")
@click.option("--artifacts", default=None,
              help="artifact store URI (default: the config's or LAUNCHGATE_ARTIFACTS_URI)")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", help="only search this day's request log")
@click.option("--json", "as_json", is_flag=True, default=False, help="print the audit as JSON")
def audit(request_id: str, config_path: Path | None, service: str | None, artifacts: str | None, day: str | None,
          as_json: bool) -> None:
    """Show how the decision that let REQUEST_ID be served was made.

    Exit 0: decision reproduced from consistent evidence; 3: found, but the evidence is incomplete
    or does not match; 2: request not found or bad input.
    """
    from launchgate.config.context import ServiceContext, store_uri
    from launchgate.governance.audit import audit_request, render
    from launchgate.settings import Settings
    from launchgate.store import open_store

    try:
        if config_path is not None:
            ctx = ServiceContext.open(config_path, artifacts=artifacts, check_files=False)
            service, store = service or ctx.service, ctx.store
        elif not service:
            raise InputError("give --config or --service so the audit knows whose request log to search")
        else:  # no config: the store from --artifacts or the machine's setting, else the local default
            settings = Settings()
            store = open_store(store_uri(None, artifacts, settings), settings)
        report = audit_request(store, service, request_id, day=day)
    except InputError as exc:
        _fail_input(exc)
    except LaunchgateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({**report.model_dump(mode="json"), "reproduced": report.reproduced}, indent=2))
    else:
        click.echo(render(report), nl=False)
    sys.exit(0 if report.reproduced else 3)


@main.command("flush-spool")
@click.option("--spool-dir", default=None, help="spool directory (default: LAUNCHGATE_SPOOL_DIR or .launchgate/spool)")
def flush_spool(spool_dir: str | None) -> None:
    """Upload artifacts spooled while S3 was unreachable. Exit 0 when none remain, 1 otherwise."""
    from launchgate.store.spool import flush_all

    try:
        reports = flush_all(spool_dir)
    except InputError as exc:
        _fail_input(exc)
    if not reports:
        click.echo("spool is empty: nothing to flush")
    for uri, report in reports.items():
        click.echo(f"{uri}: {report.summary()}")
        for key in report.pending:
            why = "conflict: the store holds other bytes at this write-once key" if key in report.conflicts \
                else report.errors.get(key, "store unreachable")
            click.echo(f"  pending: {key} ({why})")
    sys.exit(0 if all(r.complete for r in reports.values()) else 1)



# ------------------------------------------------------------------ traffic: rollback / status


@main.command()
@click.option("--service", required=True, help="service name, e.g. support-bot")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="the service's release.yaml (default: services/<service>/release.yaml)")
@click.option("--artifacts", default=None, help="artifact store URI (default: the config's)")
@click.option("--reason", default=None, help="why, for the record")
def rollback(service: str, config_path: Path | None, artifacts: str | None, reason: str | None) -> None:
    """Send all traffic of SERVICE to stable now (candidate weight 0), then record it.

    Exit 0 rolled back, 1 the router failed, 2 bad input.
    """
    from launchgate.config.context import ServiceContext
    from launchgate.release.ops import manual_rollback

    try:
        record = manual_rollback(ServiceContext.for_service(service, config_path, artifacts=artifacts), reason=reason)
    except InputError as exc:
        _fail_input(exc)
    except LaunchgateError as exc:
        click.echo(f"error: rollback failed: {exc}", err=True)
        sys.exit(1)
    _emit_rollback_event(record)
    click.echo(f"rolled back {service}: stable serves all traffic ({record['took_s'] * 1000:.0f} ms); "
               f"recorded at {record['key']}", err=True)
    click.echo(json.dumps(record))


def _emit_rollback_event(record: dict[str, Any]) -> None:
    # Only with a Prefect server to receive it: starting an ephemeral one would take ~15 s for nothing.
    if not os.environ.get("PREFECT_API_URL"):
        return
    try:
        from prefect.events import emit_event

        emit_event(event="launchgate.canary.rolled_back",
                   resource={"prefect.resource.id": f"launchgate.service.{record['service']}"},
                   payload={**record, "manual": True})
    except Exception as exc:  # noqa: BLE001 - the rollback itself is done; the event is a courtesy
        click.echo(f"warning: rollback event not emitted: {exc}", err=True)


@main.command()
@click.option("--service", required=True, help="service name, e.g. support-bot")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="the service's release.yaml (default: services/<service>/release.yaml)")
@click.option("--artifacts", default=None, help="artifact store URI (default: the config's)")
def status(service: str, config_path: Path | None, artifacts: str | None) -> None:
    """Show SERVICE's traffic weights, the canary lease and the last-known-good release (JSON)."""
    from launchgate.config.context import ServiceContext
    from launchgate.release.ops import service_status

    try:
        out = service_status(ServiceContext.for_service(service, config_path, artifacts=artifacts))
    except InputError as exc:
        _fail_input(exc)
    except LaunchgateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(out, indent=2, default=str))
    if "router_error" in out:
        sys.exit(1)


# ------------------------------------------------------------------ release freeze


@main.group()
def freeze() -> None:
    """Show, set or lift a service's release freeze (<service>/state/freeze.json).

    Setting and lifting are for approvers listed under approvals.approvers for engineering or
    operations, and for owners; every change and every refused attempt is appended to
    <service>/state/freeze_log.jsonl. Exit 0 done, 2 bad input, 3 refused (not authorised).
    """


def _freeze_target(service: str, config_path: Path | None, artifacts: str | None) -> tuple[Any, Any]:
    """(config, store) for a freeze command; the config defaults to services/<service>/release.yaml."""
    from launchgate.config.context import ServiceContext

    ctx = ServiceContext.for_service(service, config_path, artifacts=artifacts)
    return ctx.config, ctx.store


_freeze_options = [
    click.option("--service", required=True, help="service name, e.g. support-bot"),
    click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
                 help="the service's release.yaml (default: services/<service>/release.yaml)"),
    click.option("--artifacts", default=None, help="artifact store URI (default: the config's)"),
]


def _with_freeze_options(fn: Any) -> Any:
    for option in reversed(_freeze_options):
        fn = option(fn)
    return fn


@freeze.command("status")
@_with_freeze_options
@click.option("--json", "as_json", is_flag=True, default=False, help="print the state as JSON")
def freeze_status(service: str, config_path: Path | None, artifacts: str | None, as_json: bool) -> None:
    """Show whether releases of SERVICE are frozen (exit 0 either way)."""
    from launchgate.governance.freeze import freeze_summary, freeze_verdict, read_freeze

    try:
        _, store = _freeze_target(service, config_path, artifacts)
        summary = freeze_summary(read_freeze(store, service))
    except InputError as exc:
        _fail_input(exc)
    except LaunchgateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(summary, indent=2) if as_json else freeze_verdict(store, service).reason)


def _change_freeze(action: str, service: str, config_path: Path | None, artifacts: str | None, who: str,
                   reason: str) -> None:
    from launchgate.governance.freeze import FreezeRefused, lift_freeze, set_freeze
    from launchgate.store import layout

    try:
        config, store = _freeze_target(service, config_path, artifacts)
        if action == "lift":
            lift_freeze(store, config, by=who, reason=reason)
        else:
            set_freeze(store, config, by=who, reason=reason, source="manual")
    except InputError as exc:
        _fail_input(exc)
    except FreezeRefused as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(3)
    except LaunchgateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    done = "lifted" if action == "lift" else "set"
    click.echo(f"{done}: release freeze of {service} {done} by {who} ({reason}); "
               f"audit log {layout.freeze_log(service)}")


@freeze.command("lift")
@_with_freeze_options
@click.option("--as", "who", required=True, help="your name, as listed under approvals.approvers or owners")
@click.option("--reason", required=True, help="what was mitigated; goes into the audit log")
def freeze_lift(service: str, config_path: Path | None, artifacts: str | None, who: str, reason: str) -> None:
    """Lift the release freeze of SERVICE (authorised people only, audited)."""
    _change_freeze("lift", service, config_path, artifacts, who, reason)


@freeze.command("set")
@_with_freeze_options
@click.option("--as", "who", required=True, help="your name, as listed under approvals.approvers or owners")
@click.option("--reason", required=True, help="why releases must stop; shown to every blocked release")
def freeze_set(service: str, config_path: Path | None, artifacts: str | None, who: str, reason: str) -> None:
    """Freeze releases of SERVICE by hand (authorised people only, audited)."""
    _change_freeze("set", service, config_path, artifacts, who, reason)



# Commands kept in their own modules (imported last: they register on `main`).
from launchgate.cli.observability import observability, report_command  # noqa: E402

main.add_command(observability)
main.add_command(report_command)
from launchgate.cli.readiness import attest, readiness  # noqa: E402

main.add_command(attest)
main.add_command(readiness)


from launchgate.cli.data import data as _data  # noqa: E402 - its own module; registered here

main.add_command(_data)


if __name__ == "__main__":
    main()

from launchgate.cli.traffic import gameday, handoff, traffic  # noqa: E402 - guardrail runbook commands

main.add_command(traffic)
main.add_command(handoff)
main.add_command(gameday)
from launchgate.cli.logs import logs as _logs  # noqa: E402 - its own module; registered here
from launchgate.cli.logs import review as _review  # noqa: E402

main.add_command(_logs)
main.add_command(_review)
from launchgate.cli.quality import golden as _golden  # noqa: E402 - its own module; registered here
from launchgate.cli.quality import replay as _replay  # noqa: E402
from launchgate.cli.quality import review_queue as _review_queue  # noqa: E402

main.add_command(_review_queue)
main.add_command(_golden)
main.add_command(_replay)
from launchgate.cli.keys import keys as _keys  # noqa: E402 - its own module; registered here

main.add_command(_keys)
