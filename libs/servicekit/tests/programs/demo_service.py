"""A trivial service run through `service_cli`, for tests that signal a real process.

Environment: DEMO_DATABASE_URL, NATS_URL, DEMO_HTTP_PORT. Prints `stopped` from its stop hook.
"""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from servicekit.cli import service_cli
from servicekit.runtime import Runtime, ServiceParts
from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", frozen=True)
    service_name = "servicekit-demo"
    default_database = "servicekit_demo"


async def build(runtime: Runtime) -> ServiceParts:
    async def say_stopped() -> None:
        print("stopped", flush=True)

    return ServiceParts(on_stop=[say_stopped])


if __name__ == "__main__":
    service_cli("servicekit_demo", Settings, build)()
