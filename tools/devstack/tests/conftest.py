from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A fresh folder with a short path (Unix socket paths must stay under ~107 characters)
    that the embedded PostgreSQL's system user can traverse."""
    path = Path(tempfile.mkdtemp(prefix="ds-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
