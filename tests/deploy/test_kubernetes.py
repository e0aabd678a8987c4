"""Every overlay renders with kustomize and every object validates against Kubernetes' schemas."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from campaign_api.settings import Settings
from servicekit.shutdown import DEFAULT_GRACE_SECONDS, FLUSH_SECONDS

from .tools import K8S, OVERLAYS, ROOT, by_kind, render

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="add kubernetes-validate to the root dev dependency group"
)
yaml = pytest.importorskip("yaml", reason="add pyyaml to the root dev dependency group")

KUBERNETES_VERSION = "1.33"
SERVICES = ("campaign-api", "scheduler", "content-generator", "mailer")


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def test_both_overlays_exist() -> None:
    assert OVERLAYS == ["dev", "prod"]


def test_every_object_validates_strictly(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    assert len(objects) > 30
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    deployment = by_kind(render("prod"), "Deployment")["mailer"]
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"][
        "prot"] = 8080
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_no_secret_is_rendered(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    assert by_kind(objects, "Secret") == {}
    assert (K8S / "base" / "secret.example.yaml").exists()


def test_each_service_is_probed_limited_and_has_no_token(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    overlay, objects = rendered
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert "startupProbe" in container, name
        assert {"requests", "limits"} <= set(container["resources"]), name
        assert pod["automountServiceAccountToken"] is False, name
        assert container["image"].startswith(("campaign-builder/", "registry.")), name
        namespace = "campaign-builder-dev" if overlay == "dev" else "campaign-builder"
        assert deployment["metadata"]["namespace"] == namespace
    assert set(by_kind(objects, "PodDisruptionBudget")) == {*SERVICES, "nats"}
    assert set(by_kind(objects, "Job")) == {f"{s}-migrate" for s in SERVICES}
    assert all(sa["automountServiceAccountToken"] is False
               for sa in by_kind(objects, "ServiceAccount").values())
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == {
        "content-generator", "mailer"}


def test_nats_is_a_three_node_cluster_that_syncs_every_write(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    overlay, objects = rendered
    nats = by_kind(objects, "StatefulSet")["nats"]
    assert nats["spec"]["replicas"] == 3
    config = by_kind(objects, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    assert "sync_interval: always" in config
    assert config.count("nats-headless:6222") == 3
    settings = by_kind(objects, "ConfigMap")["campaign-builder-config"]["data"]
    assert settings["NATS_STREAM_REPLICAS"] == ("3" if overlay == "prod" else "1")
    assert settings["NATS_URL"].count("nats://") == 3


def test_only_the_gateway_takes_ingress_from_outside(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    policies = by_kind(objects, "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"]["podSelector"] == {}
    from_outside = [
        p["spec"]["podSelector"] for p in policies.values()
        for rule in p["spec"].get("ingress", []) for peer in rule["from"]
        if peer.get("namespaceSelector", {}).get("matchLabels", {}).get(
            "kubernetes.io/metadata.name") == "ingress-nginx"
    ]
    assert from_outside == [{"matchLabels": {"app.kubernetes.io/name": "campaign-api"}}]
    for ingress in by_kind(objects, "Ingress").values():
        assert ingress["spec"]["tls"][0]["secretName"]
        backends = {p["backend"]["service"]["name"]
                    for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
        assert backends == {"campaign-api"}


def test_health_and_metrics_are_refused_at_the_ingress(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    ingresses = by_kind(objects, "Ingress")
    public = ingresses["campaign-api"]
    internal = ingresses["campaign-api-internal"]
    assert internal["spec"]["rules"][0]["host"] == public["spec"]["rules"][0]["host"]
    assert internal["spec"]["tls"] == public["spec"]["tls"]
    # Exact paths win over the public Ingress's "/" prefix, and deny every client address.
    paths = {(p["path"], p["pathType"]) for p in internal["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {("/healthz", "Exact"), ("/readyz", "Exact"), ("/metrics", "Exact")}
    denied = internal["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/denylist-source-range"].split(",")
    assert {ipaddress.ip_network(n) for n in denied} == {
        ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}
    assert not any(p["path"] in ("/healthz", "/readyz", "/metrics")
                   for r in public["spec"]["rules"] for p in r["http"]["paths"])


def _nginx_size(value: str) -> int:
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    return int(value[:-1]) * units[value[-1].lower()] if value[-1].isalpha() else int(value)


def test_the_proxies_take_the_bodies_campaign_api_takes(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    largest = Settings.model_fields["max_import_bytes"].default
    annotations = by_kind(objects, "Ingress")["campaign-api"]["metadata"]["annotations"]
    assert _nginx_size(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) == largest
    nginx = (ROOT / "deploy" / "nginx" / "campaign-api.conf.template").read_text()
    (size,) = re.findall(r"client_max_body_size\s+(\w+);", nginx)
    assert _nginx_size(size) == largest
    assert re.search(r"location ~ \^/\(healthz\|readyz\|metrics\)\$ \{\s*return 404;", nginx)


def test_campaign_api_believes_forwarded_headers_from_the_pod_network(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    trusted = by_kind(objects, "ConfigMap")["campaign-builder-config"]["data"][
        "FORWARDED_ALLOW_IPS"]
    networks = [ipaddress.ip_network(n) for n in trusted.split(",")]
    assert networks
    assert all(n.is_private for n in networks)


def test_each_service_gets_longer_to_stop_than_its_drain_takes(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    for name, deployment in by_kind(objects, "Deployment").items():
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > DEFAULT_GRACE_SECONDS + FLUSH_SECONDS, name
