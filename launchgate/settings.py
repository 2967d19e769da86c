"""Machine settings (not per release): env vars with the LAUNCHGATE_ prefix.

Secrets are SecretStr so they never print.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAUNCHGATE_", extra="ignore", populate_by_name=True)

    artifacts_uri: str | None = Field(default=None, description="overrides release.yaml artifacts.uri")
    notifier: str | None = Field(default=None, description="console | slack; overrides release.yaml")
    slack_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LAUNCHGATE_SLACK_TOKEN", "SLACK_BOT_TOKEN")
    )
    slack_base_url: str = "https://slack.com/api/"
    slack_timeout_s: float = 10.0
    slack_max_retries: int = 3
    s3_connect_timeout_s: float = 5.0
    s3_read_timeout_s: float = 20.0
    s3_max_attempts: int = 4
    s3_sse: str = Field(default="AES256", description="AES256 or aws:kms")
    s3_kms_key_id: str | None = None
    # S3 outages (store/spool.py): writes wait in a local spool instead of failing the release.
    s3_verify_uploads: bool = Field(default=True, description="HEAD each upload and compare its checksum")
    s3_spool: bool = Field(default=True, description="spool S3 writes locally while S3 is down (false: fail)")
    spool_dir: str = Field(default=".launchgate/spool", description="where spooled S3 writes wait")
    spool_retry_s: float = Field(default=10.0, description="after an S3 failure, spool without retrying this long")
    prefect_ui_url: str | None = Field(default=None, description="base URL for links to flow runs")
    aiperf_bin: str | None = Field(
        default=None, description="load engine executable; unset = <repo>/.venv-aiperf/bin/aiperf, else aiperf on PATH"
    )


def get_settings() -> Settings:
    return Settings()
