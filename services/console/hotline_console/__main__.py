"""`python -m hotline_console`: the console (web app and its backend-for-frontend)."""

from hotline_shared.logging import configure_logging
from hotline_shared.service import serve
from hotline_shared.settings import settings_or_exit

from hotline_console.app import build_app
from hotline_console.settings import ConsoleSettings


def main() -> None:
    configure_logging("console")
    settings = settings_or_exit("console", ConsoleSettings)
    serve(settings_or_exit("console", build_app), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
