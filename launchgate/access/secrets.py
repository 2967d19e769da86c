"""Reading a secret named by a reference: ``env:NAME``, ``file:PATH``, ``prefect:BLOCK-NAME`` or ``aws:SECRET-ID``.

release.yaml never holds a secret, only where it is (``data.subject.hmac_secret`` and the like):

- ``env:NAME``          the process environment (fixed for the life of a process: secrets that rotate
                        without a restart come from one of the others);
- ``file:PATH``         a file's content, stripped (a mounted Kubernetes or Docker secret, which the
                        orchestrator replaces in place on rotation);
- ``prefect:BLOCK``     a Prefect Secret block. The core never imports Prefect, so the caller (a task
                        or the CLI) passes a resolver: ``{"prefect": lambda name: Secret.load(name).get()}``;
- ``aws:ID[#FIELD]``    AWS Secrets Manager via boto3 (endpoint from the standard AWS settings, so
                        moto_server in tests); ``#FIELD`` picks one key of a JSON secret.

This module is the boundary where boto3's errors become SecretNotFound (exit 2: the reference is
wrong) or SecretsUnavailable (the source did not answer after bounded retries). No message, log
line or exception built here carries a secret's value.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from launchgate.errors import SecretNotFound, SecretsUnavailable

log = logging.getLogger(__name__)

Resolver = Callable[[str], str]
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 3
_NOT_FOUND = {"ResourceNotFoundException", "InvalidRequestException", "InvalidParameterException",
              "DecryptionFailure", "AccessDeniedException"}


def read_secret(ref: str, *, resolvers: Mapping[str, Resolver] | None = None,
                aws_client: Any | None = None) -> str:
    """The value behind ``ref``; raises SecretNotFound or SecretsUnavailable (never with the value)."""
    scheme, _, name = ref.partition(":")
    if not name:
        raise SecretNotFound(f"secret reference {ref!r}: expected env:NAME, file:PATH, prefect:BLOCK or aws:SECRET-ID")
    custom = (resolvers or {}).get(scheme)
    if custom is not None:
        return _checked(ref, _call(ref, custom, name))
    if scheme == "env":
        value = os.environ.get(name)
        if not value:
            raise SecretNotFound(f"secret {ref}: environment variable {name} is not set (or empty)")
        return value
    if scheme == "file":
        try:
            return _checked(ref, Path(name).read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise SecretNotFound(f"secret {ref}: cannot read the file ({exc.strerror or type(exc).__name__})") from exc
        except UnicodeDecodeError as exc:
            raise SecretNotFound(f"secret {ref}: the file is not UTF-8 text") from exc
    if scheme == "aws":
        return _checked(ref, _aws(ref, name, aws_client))
    if scheme == "prefect":
        raise SecretNotFound(f"secret {ref}: Prefect Secret blocks are read inside a flow or by the launchgate "
                             "command, which pass a resolver; this caller has none")
    raise SecretNotFound(f"secret reference {ref!r}: unknown source {scheme!r} (env, file, prefect or aws)")


def _checked(ref: str, value: str) -> str:
    if not value:
        raise SecretNotFound(f"secret {ref} is empty")
    return value


def _call(ref: str, resolver: Resolver, name: str) -> str:
    try:
        value = resolver(name)
    except (SecretNotFound, SecretsUnavailable):
        raise
    except (KeyError, ValueError, LookupError) as exc:
        raise SecretNotFound(f"secret {ref} not found ({type(exc).__name__})") from exc
    except Exception as exc:  # noqa: BLE001 - a resolver's own error types are unknown here; the message is ours
        raise SecretsUnavailable(f"secret {ref} could not be read ({type(exc).__name__})") from exc
    return str(value)


def aws_client() -> Any:
    """A Secrets Manager client with timeouts and bounded retries (endpoint and region from AWS settings)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                    retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS})
    return boto3.session.Session().client("secretsmanager", config=config)


def _aws(ref: str, name: str, client: Any | None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    secret_id, _, field = name.partition("#")
    try:
        answer = (client or aws_client()).get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            raise SecretNotFound(f"secret {ref}: AWS Secrets Manager answered {code}") from exc
        raise SecretsUnavailable(f"secret {ref}: AWS Secrets Manager answered {code or 'an error'}") from exc
    except BotoCoreError as exc:
        raise SecretsUnavailable(f"secret {ref}: AWS Secrets Manager unreachable ({type(exc).__name__})") from exc
    value = answer.get("SecretString")
    if value is None and answer.get("SecretBinary") is not None:
        value = bytes(answer["SecretBinary"]).decode("utf-8", "replace")
    if not field:
        return str(value or "")
    try:
        picked = json.loads(value or "")[field]
    except (ValueError, KeyError, TypeError) as exc:
        raise SecretNotFound(f"secret {ref}: no field {field!r} in a JSON secret") from exc
    return str(picked)
