"""`python -m bench [name ...]`: run the named benchmarks, or all of them."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

_NOT_BENCHES = {"harness", "__main__"}
# Run only when named: the crash suite takes many minutes (`make chaos`).
_ON_REQUEST = {"chaos"}


def main(names: list[str]) -> int:
    found = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                   if m.name not in _NOT_BENCHES and not m.name.startswith("_"))
    chosen = names or [name for name in found if name not in _ON_REQUEST]
    unknown = set(chosen) - set(found)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(found)}")
        return 2
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
