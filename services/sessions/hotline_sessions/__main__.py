"""`python -m hotline_sessions`: the sessions service (HTTP API and Kafka subscribers, one process)."""

from hotline_shared.logging import configure_logging
from hotline_shared.service import serve
from hotline_shared.settings import settings_or_exit

from hotline_sessions.app import build_app
from hotline_sessions.settings import SessionsSettings


def main() -> None:
    configure_logging("sessions")
    settings = settings_or_exit("sessions", SessionsSettings)
    serve(settings_or_exit("sessions", build_app), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
