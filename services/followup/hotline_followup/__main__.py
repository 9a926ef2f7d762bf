"""`python -m hotline_followup`: the followup service (HTTP API and Kafka subscribers, one process)."""

from hotline_shared.logging import configure_logging
from hotline_shared.service import serve
from hotline_shared.settings import settings_or_exit

from hotline_followup.app import build_app
from hotline_followup.settings import FollowupSettings


def main() -> None:
    configure_logging("followup")
    settings = settings_or_exit("followup", FollowupSettings)
    serve(settings_or_exit("followup", build_app), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
