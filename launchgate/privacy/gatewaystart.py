"""What the data policy does when a gateway starts (called by ``launchgate gateway`` before it binds).

1. A policy logging raw prompts in production refuses to start without an override in force
   (privacy/logpolicy.py ``check_gateway_start``): InputError, exit 2, nothing served.
2. The subject key's HMAC secret is read (a missing secret is InputError naming it).
3. A policy other than the default (every contract field, prompt redacted, no subject) is installed
   for the service's log writers; the default needs no filter and costs nothing.
4. The config file's sha256 goes into ``<service>/state/config_audit.jsonl`` (event gateway_start).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from launchgate.config import ReleaseConfig
from launchgate.config.datapolicy import DataPolicy
from launchgate.eval.golden import file_sha256
from launchgate.lifecycle.changes import record_config
from launchgate.privacy.logpolicy import check_gateway_start, install, subject_key
from launchgate.store import open_store


def start_gateway_data_policy(config: ReleaseConfig, config_path: Path, store_uri: str,
                              resolvers: Mapping[str, Callable[[str], str]] | None = None) -> str | None:
    """Apply the data policy to this process's gateway; returns a note to print (an override in force)."""
    store = open_store(store_uri)
    note = check_gateway_start(store, config)
    policy = config.data
    key = subject_key(config, resolvers) if policy.subject is not None else None
    default = DataPolicy()
    if policy.subject is not None or policy.prompt != default.prompt or policy.log_fields != default.log_fields:
        install(config.service, policy, key)
    record_config(store, config.service, "gateway_start", file_sha256(config_path))
    return note
