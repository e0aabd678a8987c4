from mailer.app import build
from mailer.settings import Settings
from servicekit.cli import service_cli

app = service_cli("mailer", Settings, build)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
