"""Every setting a service refuses to start without in production is provided where it runs: by
docker-compose.yml (with the `.env` that .env.example describes) and by each Kubernetes overlay
(with the keys the example secret names). What "refuses to start without" means is decided by
the services' own Settings classes: each is built from the rendered environment (production,
but for the dev overlay) and must succeed, and again without each variable in turn, where a
failure must name the variable."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from pydantic import ValidationError

from campaign_api.dashboard.settings import DashboardSettings
from campaign_api.settings import Settings as CampaignApiSettings
from content_generator.settings import Settings as ContentGeneratorSettings
from mailer.settings import Settings as MailerSettings
from scheduler.settings import Settings as SchedulerSettings

from .tools import OVERLAYS, ROOT, Unset, by_kind, dotenv, interpolate, render

yaml = pytest.importorskip("yaml", reason="add pyyaml to the root dev dependency group")

# What each service's processes build at start-up (`migrate` and `run` alike).
SETTINGS: dict[str, tuple[type[Any], ...]] = {
    "campaign-api": (CampaignApiSettings, DashboardSettings),
    "scheduler": (SchedulerSettings,),
    "content-generator": (ContentGeneratorSettings,),
    "mailer": (MailerSettings,),
}
ENV_EXAMPLE = ROOT / ".env.example"
SECRET_EXAMPLE = ROOT / "deploy" / "k8s" / "base" / "secret.example.yaml"
OPERATIONS = ROOT / "docs" / "operations.md"
PLACEHOLDER = "CHANGE-ME"


def _as_operator_would(env: dict[str, str]) -> dict[str, str]:
    """Empty values and placeholders filled in with a new secret, as the comments say."""
    return {name: value.replace(PLACEHOLDER, secrets.token_hex(32)) if value
            else secrets.token_hex(32) for name, value in env.items()}


def _service_of(image: str) -> str | None:
    name = image.rsplit("/", 1)[-1].split(":", 1)[0]
    return name if name in SETTINGS else None


def refusal(service: str, env: dict[str, str]) -> str | None:
    """None when each Settings class of the service builds from exactly `env`; else why not."""
    with mock.patch.dict(os.environ, env, clear=True):
        for settings in SETTINGS[service]:
            try:
                settings()
            except ValidationError as exc:
                return str(exc)
    return None


def required(service: str, env: dict[str, str]) -> set[str]:
    """The variables of `env` the service refuses to start without (in its ENVIRONMENT)."""
    assert refusal(service, env) is None, f"{service}: {refusal(service, env)}"
    needed = set()
    for name in env:
        error = refusal(service, {k: v for k, v in env.items() if k != name})
        if error is not None:
            assert name in error, f"{service} without {name} fails without naming it: {error}"
            needed.add(name)
    return needed


# --- docker-compose --------------------------------------------------------------------------


def compose_containers(operator_env: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    """(compose service, our service, its environment) for every container of our images."""
    compose = interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()),
                          operator_env)
    found = []
    for name, spec in compose["services"].items():
        service = _service_of(spec.get("image", ""))
        if service is None:
            continue
        env: dict[str, str] = {}
        if any(Path(f["path"] if isinstance(f, dict) else f).name == ".env"
               for f in spec.get("env_file", [])):
            env |= operator_env
        env |= {k: str(v) for k, v in (spec.get("environment") or {}).items()}
        found.append((name, service, env))
    return found


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    return _as_operator_would(dotenv(ENV_EXAMPLE))


def test_compose_provides_every_setting_a_service_requires_in_production(
        operator_env: dict[str, str]) -> None:
    containers = compose_containers(operator_env)
    assert {service for _, service, _ in containers} == set(SETTINGS)
    needed: dict[str, set[str]] = {}
    for name, service, env in containers:
        assert env["ENVIRONMENT"] == "production", name  # compose's default
        needed.setdefault(service, set()).update(required(service, env))
    # campaign-api and the mailer need secrets of their own beyond the database.
    assert needed["campaign-api"] - needed["scheduler"]
    assert needed["mailer"] - needed["scheduler"]
    documented = OPERATIONS.read_text()
    example = ENV_EXAMPLE.read_text()
    for name in set().union(*needed.values()):
        assert name in documented, f"{name} is required but docs/operations.md never names it"
        assert name in example, f"{name} is required but .env.example never names it"


def test_compose_stops_before_starting_without_a_required_setting_of_the_env_file(
        operator_env: dict[str, str]) -> None:
    needed = set().union(*(required(service, env) & operator_env.keys()
                           for _, service, env in compose_containers(operator_env)))
    assert needed
    for name in needed:
        with pytest.raises(Unset, match=name):
            compose_containers({k: v for k, v in operator_env.items() if k != name})


def test_the_env_example_leaves_no_secret_filled_in() -> None:
    example = dotenv(ENV_EXAMPLE)
    for name in ("POSTGRES_PASSWORD", "LINK_SIGNING_KEY", "CAMPAIGN_API_SESSION_SECRET",
                 "ERASURE_KEY"):
        assert example[name] == "", name


# --- Kubernetes ------------------------------------------------------------------------------


def pod_containers(objects: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, str]]]:
    """(object, our service, its environment) for every container of the Deployments and Jobs;
    the secret holds the keys the example secret names, filled in."""
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    secret_data = _as_operator_would(secret["stringData"])
    config_maps = {name: o["data"] for name, o in by_kind(objects, "ConfigMap").items()}
    found = []
    for obj in objects:
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            service = _service_of(container["image"])
            assert service is not None, container["image"]
            env: dict[str, str] = {}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    env |= config_maps[source["configMapRef"]["name"]]
                else:
                    assert source["secretRef"]["name"] == secret["metadata"]["name"]
                    env |= secret_data
            env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
            found.append((f"{obj['kind']}/{obj['metadata']['name']}", service, env))
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_provides_every_setting_a_service_requires_in_production(
        overlay: str) -> None:
    containers = pod_containers(render(overlay))
    assert {service for _, service, _ in containers} == set(SETTINGS)
    needed: dict[str, set[str]] = {}
    for name, service, env in containers:
        # The dev overlay runs as development (SMTP without TLS, say): checked as such.
        assert (env["ENVIRONMENT"] == "production") == (overlay == "prod"), name
        needed.setdefault(service, set()).update(required(service, env))
    if overlay == "prod":
        assert needed["campaign-api"] - needed["scheduler"]
        assert needed["mailer"] - needed["scheduler"]
    documented = OPERATIONS.read_text()
    for name in set().union(*needed.values()):
        assert name in documented, f"{name} is required but docs/operations.md never names it"

