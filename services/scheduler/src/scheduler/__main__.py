from scheduler.app import build
from scheduler.settings import Settings
from servicekit.cli import service_cli

app = service_cli("scheduler", Settings, build)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
