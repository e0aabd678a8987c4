import pytest
from hypothesis import settings

pytest_plugins = ["testkit.fixtures"]

# Property tests check behaviour, never speed: on a loaded machine hypothesis's default 200 ms
# deadline per example fails tests that are right.
settings.register_profile("project", deadline=None)
settings.load_profile("project")


def _start_rank(item: pytest.Item) -> int:
    if item.get_closest_marker("slow"):
        return 0
    return 1 if item.get_closest_marker("e2e") else 2


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow modules first, then the other end-to-end ones, then the rest: `make test` hands
    whole files to its workers in this order (`--no-loadscope-reorder`), so the minutes spent
    waiting for due times overlap the many short modules instead of trailing after them. The
    sort is stable and a module's tests keep their order, as its module-scoped system needs."""
    items.sort(key=_start_rank)
