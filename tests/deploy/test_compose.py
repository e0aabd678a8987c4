"""docker-compose.yml validates against the compose specification and wires what it must."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from servicekit.shutdown import DEFAULT_GRACE_SECONDS, FLUSH_SECONDS

from .tools import ROOT, interpolate, run, tool

yaml = pytest.importorskip("yaml", reason="add pyyaml to the root dev dependency group")

COMPOSE = ROOT / "docker-compose.yml"
SERVICES = ("campaign-api", "scheduler", "content-generator", "mailer")


def validate(path: Path) -> tuple[int, str]:
    checker = tool("check-jsonschema", "check-jsonschema")
    result = run(checker, "--builtin-schema", "vendor.compose-spec", str(path))
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_file_follows_the_specification() -> None:
    code, output = validate(COMPOSE)
    assert code == 0, output


def test_the_validator_rejects_an_unknown_key(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:\n", "    healthchek:\n", 1))
    code, _ = validate(broken)
    assert code != 0


def test_each_service_migrates_before_it_starts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in SERVICES:
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["migrate"]
        assert migrate["image"] == services[name]["image"]
        assert services[name]["depends_on"][f"{name}-migrate"] == {
            "condition": "service_completed_successfully"}
        assert "readyz" in " ".join(services[name]["healthcheck"]["test"])


def test_infrastructure_persists_and_tls_is_terminated_in_front(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "pgvector/pgvector:pg16"
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "nats-data:/data" in services["nats"]["volumes"]
    nats_conf = (ROOT / "deploy" / "nats" / "nats.conf").read_text()
    assert "sync_interval: always" in nats_conf
    assert "certs:/etc/nginx/certs:ro" in services["nginx"]["volumes"]
    assert "campaign-api" in services["nginx"]["depends_on"]
    init = (ROOT / "deploy" / "postgres" / "init" / "01-service-databases.sh").read_text()
    for database in ("campaign_api", "scheduler", "content_generator", "mailer"):
        assert database in init


def test_campaign_api_believes_forwarded_headers_from_nginx_alone(
        compose: dict[str, Any]) -> None:
    env = {name: "x" for name in ("POSTGRES_PASSWORD", "LINK_SIGNING_KEY",
                                  "CAMPAIGN_API_SESSION_SECRET", "ERASURE_KEY",
                                  "PUBLIC_BASE_URL")}
    rendered = interpolate(compose, env)
    services = rendered["services"]
    (subnet,) = [c["subnet"] for c in rendered["networks"]["edge"]["ipam"]["config"]]
    assert ipaddress.ip_network(subnet).is_private
    assert services["campaign-api"]["environment"]["FORWARDED_ALLOW_IPS"] == subnet
    moved = interpolate(compose, {**env, "EDGE_SUBNET": "10.77.0.0/28"})
    assert moved["services"]["campaign-api"]["environment"]["FORWARDED_ALLOW_IPS"] == (
        "10.77.0.0/28")
    services = compose["services"]
    assert services["nginx"]["networks"] == ["edge"]
    on_edge = {name for name, s in services.items() if "edge" in s.get("networks", [])}
    assert on_edge == {"nginx", "campaign-api"}


def test_each_service_gets_longer_to_stop_than_its_drain_takes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in SERVICES:
        period = services[name]["stop_grace_period"]
        assert period.endswith("s"), name
        assert float(period.removesuffix("s")) > DEFAULT_GRACE_SECONDS + FLUSH_SECONDS, name
