"""The offline validators, installed into the same environment as pytest (the root dev group)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_BIN = Path(sys.executable).parent


def tool(name: str, package: str) -> str:
    """Path of a command-line tool that a Python package ships, next to this interpreter."""
    path = shutil.which(name, path=str(_BIN)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: add {package} to the root dev dependency group")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
