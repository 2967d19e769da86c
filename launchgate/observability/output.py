"""Write the three files of ``launchgate observability``: rules.yml, scrape.yml, grafana/<service>.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from launchgate.config import ReleaseConfig
from launchgate.errors import InputError
from launchgate.observability.dashboard import build_dashboard
from launchgate.observability.rules import rules_file, rules_header
from launchgate.observability.scrape import gateway_target, scrape_config

RULES = "prometheus/rules.yml"
SCRAPE = "prometheus/scrape.yml"


class _Dumper(yaml.SafeDumper):
    """PromQL that spans lines is written as a literal block, the way people write rules by hand."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


def observability_files(cfg: ReleaseConfig) -> dict[str, str]:
    """Relative path -> text of every generated file."""
    if cfg.canary.router == "haproxy" and not cfg.observability.gateway_target:
        # The gateway's URL would be scraped for HAProxy's metrics: every panel and alert would stay empty.
        raise InputError("observability.gateway_target: with canary.router haproxy, Prometheus scrapes HAProxy's "
                         "exporter; name its host:port (e.g. haproxy.internal:8405)")
    target = gateway_target(cfg.canary.gateway_url, cfg.observability.gateway_target)
    scheme = "https" if cfg.canary.gateway_url.startswith("https") else "http"
    scrape = scrape_config(cfg.service, target, cfg.observability.scrape_interval_s, rule_files=["rules.yml"],
                           scheme=scheme)
    return {
        RULES: rules_header(cfg) + dump_yaml(rules_file(cfg)),
        SCRAPE: dump_yaml(scrape),
        f"grafana/{cfg.service}.json": json.dumps(build_dashboard(cfg), indent=2) + "\n",
    }


def write_observability(cfg: ReleaseConfig, out_dir: Path) -> list[Path]:
    written = []
    for rel, text in observability_files(cfg).items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
