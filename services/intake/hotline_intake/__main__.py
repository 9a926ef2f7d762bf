"""`python -m hotline_intake`: the intake service (HTTP API and Kafka subscribers, one process)."""

from hotline_shared.logging import configure_logging
from hotline_shared.service import serve
from hotline_shared.settings import settings_or_exit

from hotline_intake.app import build_app
from hotline_intake.settings import IntakeSettings


def main() -> None:
    configure_logging("intake")
    settings = settings_or_exit("intake", IntakeSettings)
    serve(settings_or_exit("intake", build_app), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
