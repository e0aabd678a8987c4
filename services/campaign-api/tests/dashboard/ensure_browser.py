"""Find the system's Chromium for the browser tests, installing Debian's package if allowed.

Playwright drives it through `executable_path`: no browser is downloaded from anywhere but the
distribution's package archive. Run `python services/campaign-api/tests/dashboard/ensure_browser.py`
(e.g. from `make test`) to install it ahead of the tests; it prints the browser's path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium")
# Quiet, headless, and nothing that reaches the network on its own.
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def find_chromium() -> Path | None:
    """$CHROMIUM_PATH if set (and it must then exist), else the usual Debian locations."""
    if explicit := os.environ.get("CHROMIUM_PATH"):
        path = Path(explicit)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    for candidate in (*CANDIDATES, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def install_chromium() -> str | None:
    """Install Debian's `chromium` with apt-get; the reason it could not, or None."""
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine: install Chromium and set CHROMIUM_PATH"
    if os.geteuid() != 0:
        return "not root: run `sudo apt-get install -y chromium` or set CHROMIUM_PATH"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "chromium",
                     "fonts-dejavu-core"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                                timeout=900)
        if result.returncode != 0:
            return f"`{' '.join(command)}` failed: {result.stderr.strip()[-500:]}"
    return None


def ensure_chromium(*, install: bool = True) -> tuple[Path | None, str]:
    """The browser's path, or None and why there is none."""
    found = find_chromium()
    if found is not None:
        return found, ""
    if os.environ.get("CHROMIUM_PATH"):
        return None, f"CHROMIUM_PATH={os.environ['CHROMIUM_PATH']} is not an executable"
    if not install:
        return None, "Chromium is not installed"
    reason = install_chromium()
    found = find_chromium()
    if found is None:
        return None, reason or "apt-get installed chromium but no browser binary was found"
    return found, ""


if __name__ == "__main__":
    path, why = ensure_chromium()
    if path is None:
        print(f"no Chromium: {why}", file=sys.stderr)
        sys.exit(1)
    print(path)
