from content_generator.app import build
from content_generator.settings import Settings
from servicekit.cli import service_cli

app = service_cli("content_generator", Settings, build)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
