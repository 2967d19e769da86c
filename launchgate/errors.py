"""Every exception launchgate raises on purpose.

Translation happens at one boundary per external system (``modelclient`` for HTTP model
endpoints, ``store.s3`` for boto3, ``notify.slack`` for slack-sdk, ``router.*`` and ``metrics.*`` for
the gateway admin API and boto3 SageMaker/CloudWatch), always ``raise ... from exc``
so the original error stays on ``__cause__`` for debugging but never leaks secrets into messages.

    LaunchgateError
    ├── InputError                 bad input from the user: exit code 2, no traceback
    │   ├── ConfigError            release.yaml invalid (carries every field error)
    │   ├── DataFileError          golden set / schema / prompt file unreadable or malformed
    │   └── ReleaseStateError      the store says this release cannot run as asked (--resume of an
    │                              unknown id, another candidate, an attempt already running)
    │   └── SecretNotFound         a secret reference names no readable secret
    ├── NotAuthorised              a person not listed for the action tried it (recorded by the
    │                              caller): CLI exit code 3, like a blocked release
    ├── ExternalError              a system we talk to failed after bounded retries
    │   ├── ModelEndpointError     OpenAI-compatible endpoint
    │   │   ├── ModelTimeout
    │   │   └── ModelHTTPError     carries status and retry-after
    │   ├── RouterError            traffic router / metrics source (release gateway, SageMaker, CloudWatch)
    │   ├── GatewayError           the release gateway's admin API (carries the HTTP status, if any)
    │   ├── StoreError             artifact store (local dir or S3)
    │   │   ├── ArtifactExistsError   a release bundle is never overwritten
    │   │   └── StoreConflict         a state update kept losing to concurrent writers (bounded retries)
    │   └── NotifyError            Slack / console; caught by the notifier, never fails a release
    │   └── SecretsUnavailable     AWS Secrets Manager / Prefect Secret could not be read
"""

from __future__ import annotations


class LaunchgateError(Exception):
    """Base class: a message a person can act on."""


class InputError(LaunchgateError):
    """The user gave us something we cannot use. CLI exit code 2."""

    def reasons(self) -> list[str]:
        """One reason per problem, as a command's JSON result line lists them."""
        return [str(self)]


class NotAuthorised(LaunchgateError):
    """A person not listed for an action (freeze, keys, data access, attestations) tried it. CLI exit code 3."""


class ConfigError(InputError):
    def __init__(self, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{path}: {len(errors)} error(s)\n{lines}")

    def reasons(self) -> list[str]:
        return [f"{self.path}: {e}" for e in self.errors]


class DataFileError(InputError):
    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ExternalError(LaunchgateError):
    """An external system failed after our bounded retries."""


class ModelEndpointError(ExternalError):
    pass


class ModelTimeout(ModelEndpointError):
    pass


class ModelHTTPError(ModelEndpointError):
    def __init__(self, message: str, status: int, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class RouterError(ExternalError):
    """The traffic router or the metrics source failed (translated at router/ and metrics/)."""


class GatewayError(ExternalError):
    """The release gateway's admin API failed or refused (translated in gateway/client.py).

    ``status`` is the HTTP status when the gateway answered (401 bad token, 409 lease held by
    another holder or no candidate upstream, ...), ``None`` when it could not be reached.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class StoreError(ExternalError):
    pass


class MalformedObjectError(StoreError):
    """A stored object that should be JSON is not (truncated, hand-edited, another tool's file)."""


class ArtifactExistsError(StoreError):
    pass


class StoreConflict(StoreError):
    """A conditional update of a state file lost to other writers on every attempt (S3), or could not
    take the file's lock in time (local store). Nothing was written; the same update may succeed later."""


class NotifyError(ExternalError):
    pass


class ReleaseStateError(InputError):
    pass


class SecretNotFound(InputError):
    """A secret reference (env:NAME, prefect:BLOCK, aws:ID) names nothing readable; the message names
    the reference, never a value."""


class SecretsUnavailable(ExternalError):
    """The secrets source (AWS Secrets Manager, Prefect) could not answer after bounded retries."""
