"""The browser for the dashboard's browser tests: found, or installed from Debian's archive."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

# Repository root / test-output: where the screenshots of a run are kept (gitignored).
OUTPUT = Path(__file__).resolve().parents[4] / "test-output" / "screenshots"


def _ensure_browser() -> ModuleType:
    # Loaded by path: it is also run as a script, outside any package.
    spec = importlib.util.spec_from_file_location(
        "dashboard_ensure_browser", Path(__file__).with_name("ensure_browser.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    path, why = _ensure_browser().ensure_chromium()
    if path is None:
        pytest.skip(f"NO BROWSER: the dashboard's browser tests did not run ({why})")
    found: Path = path
    return found


@pytest.fixture(scope="session")
def launch_args() -> list[str]:
    args: list[str] = _ensure_browser().LAUNCH_ARGS
    return args


@pytest.fixture(scope="session")
def screenshots() -> Iterator[Path]:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    yield OUTPUT
    print(f"\ndashboard screenshots: {OUTPUT}")
