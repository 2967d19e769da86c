"""infra/kubernetes/: the gateway replicas' manifests and the Gateway API HTTPRoute design, checked
without a cluster: every document parses, has its kind's required fields, and the pieces agree
(selectors, ports, probe paths that the gateway really serves, the admin token from a Secret)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from launchgate.cli import main
from launchgate.config import load_config, parse_overrides

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "kubernetes"


def _docs() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            for field in ("apiVersion", "kind", "metadata", "spec"):
                assert field in doc, f"{path.name}: {doc.get('kind')} has no {field}"
            assert doc["metadata"].get("name"), f"{path.name}: {doc['kind']} has no metadata.name"
            docs[doc["kind"]] = doc
    return docs


DOCS = _docs()


def test_every_kind_is_there_with_its_api_version() -> None:
    assert {k: d["apiVersion"] for k, d in DOCS.items()} == {
        "Deployment": "apps/v1", "Service": "v1", "PodDisruptionBudget": "policy/v1",
        "HTTPRoute": "gateway.networking.k8s.io/v1"}


def test_deployment_probes_secret_resources_and_selectors_agree() -> None:
    dep = DOCS["Deployment"]["spec"]
    labels = dep["template"]["metadata"]["labels"]
    assert dep["selector"]["matchLabels"].items() <= labels.items() and dep["replicas"] >= 2
    (c,) = dep["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    app = (ROOT / "launchgate" / "gateway" / "app.py").read_text()
    for probe, path in (("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")):
        assert c[probe]["httpGet"] == {"path": path, "port": "http"} and "http" in ports
        assert f'web.get("{path}"' in app  # the gateway serves what the probe asks
    assert str(ports["http"]) in c["args"] and "0.0.0.0" in c["args"]
    token = next(e for e in c["env"] if e["name"] == "LAUNCHGATE_GATEWAY_ADMIN_TOKEN")
    assert set(token["valueFrom"]) == {"secretKeyRef"} and "value" not in token  # never inline
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    mounted = {m["name"] for m in c["volumeMounts"]}
    assert mounted == {v["name"] for v in dep["template"]["spec"]["volumes"]}
    assert c["args"][:2] == ["launchgate", "gateway"] and "gateway" in main.commands  # a real command
    sets = tuple(c["args"][i + 1] for i, a in enumerate(c["args"]) if a == "--set")
    cfg = load_config(ROOT / "examples" / "support-bot" / "release.yaml", parse_overrides(sets), check_files=False)
    assert cfg.gateway is not None and cfg.gateway.replicas.shared_state  # the --set names a real field


def test_service_and_pdb_select_the_deployments_pods() -> None:
    labels = DOCS["Deployment"]["spec"]["template"]["metadata"]["labels"]
    svc, pdb = DOCS["Service"]["spec"], DOCS["PodDisruptionBudget"]["spec"]
    assert svc["selector"].items() <= labels.items()
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert {p["targetPort"] for p in svc["ports"]} == {"http"}
    assert 0 < pdb["minAvailable"] < DOCS["Deployment"]["spec"]["replicas"]  # a drain can still proceed


def test_httproute_splits_by_weight_between_stable_and_candidate() -> None:
    route = DOCS["HTTPRoute"]
    (rule,) = route["spec"]["rules"]
    refs = {r["name"]: r for r in rule["backendRefs"]}
    ann = route["metadata"]["annotations"]
    assert set(refs) == {ann["launchgate.dev/stable-backend"], ann["launchgate.dev/candidate-backend"]}
    assert all(r["kind"] == "Service" and isinstance(r["port"], int) for r in refs.values())
    assert refs[ann["launchgate.dev/stable-backend"]]["weight"] == 100
    assert refs[ann["launchgate.dev/candidate-backend"]]["weight"] == 0  # nothing on the candidate at rest
    assert route["spec"]["parentRefs"][0]["kind"] == "Gateway"


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_names_say_which_service(kind: str) -> None:
    assert DOCS[kind]["metadata"]["name"].startswith("support-bot")
