from hypothesis import settings

pytest_plugins = ["testkit.fixtures"]

# Property tests check behaviour, never speed: on a loaded machine hypothesis's default 200 ms
# deadline per example fails tests that are right.
settings.register_profile("project", deadline=None)
settings.load_profile("project")
