"""A service's context: its config, artifact store, notifier and machine settings, opened in one place.

The release, the scheduled reviews, the operator commands and the gateway all start from a
``ServiceContext``. Which store and which notifier a command uses follows one rule everywhere:
the command's flag, else the machine's ``LAUNCHGATE_*`` setting, else release.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from launchgate.config import ReleaseConfig, load_config
from launchgate.errors import InputError
from launchgate.notify import Dispatcher, make_notifier
from launchgate.settings import Settings
from launchgate.store import open_store
from launchgate.store.base import ArtifactStore


def store_uri(config: ReleaseConfig | None, artifacts: str | None, settings: Settings) -> str:
    """The artifact store a command uses: ``--artifacts``, else LAUNCHGATE_ARTIFACTS_URI, else release.yaml."""
    return artifacts or settings.artifacts_uri or (config.artifacts.uri if config else ".launchgate/store")


@dataclass
class ServiceContext:
    config: ReleaseConfig
    store: ArtifactStore
    settings: Settings
    config_path: Path | None = None

    @property
    def service(self) -> str:
        return self.config.service

    @cached_property
    def dispatcher(self) -> Dispatcher:
        """Opened on first use: commands that never notify need no Slack token."""
        notifier = make_notifier(self.settings.notifier or self.config.notifications.notifier, self.settings)
        return Dispatcher(notifier, self.config.owners, self.config.notifications.mute)

    @classmethod
    def open(cls, config_path: str | Path, *, artifacts: str | None = None,
             overrides: dict[str, Any] | None = None, check_files: bool = True,
             settings: Settings | None = None) -> ServiceContext:
        """Load release.yaml (``check_files=False``: commands that need no prompt or golden set)."""
        config = load_config(config_path, overrides, check_files=check_files)
        return cls.from_config(config, artifacts=artifacts, settings=settings, config_path=Path(config_path))

    @classmethod
    def from_config(cls, config: ReleaseConfig, *, artifacts: str | None = None, settings: Settings | None = None,
                    config_path: Path | None = None) -> ServiceContext:
        settings = settings or Settings()
        store = open_store(store_uri(config, artifacts, settings), settings)
        return cls(config=config, store=store, settings=settings, config_path=config_path)

    @classmethod
    def for_service(cls, service: str, config_path: Path | None, *, artifacts: str | None = None,
                    settings: Settings | None = None) -> ServiceContext:
        """An operator command's context: ``--config``, else ``services/<service>/release.yaml``."""
        path = config_path or Path("services") / service / "release.yaml"
        if config_path is None and not path.is_file():
            raise InputError(f"no config for service {service!r}: give --config path/to/release.yaml "
                             f"(looked for {path})")
        ctx = cls.open(path, artifacts=artifacts, check_files=False, settings=settings)
        if ctx.service != service:
            raise InputError(f"{path} is the config of service {ctx.service!r}, not {service!r}")
        return ctx
