"""structlog JSON logging that never writes PHI: phone numbers and note text are redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are PHI wherever they appear.
PHI_KEYS = frozenset(
    {
        "phone", "phone_number", "from", "from_", "to", "caller", "caller_number", "number",
        "e164", "ani", "dnis", "name", "caller_name", "notes", "note", "text", "free_text",
        "safety_plan", "body", "callername",
    }
)  # fmt: skip
# E.164 (+ and 8-15 digits) and NANP-style 3-3-4 numbers; ids and dates do not match.
PHONE_RE = re.compile(r"(?<![\w-])(?:\+\d{8,15}|\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4})(?![\w-])")
REDACTED = "[redacted]"


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return PHONE_RE.sub(REDACTED, value)
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in PHI_KEYS else redact_value(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact_phi(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop PHI keys, mask anything shaped like a phone number."""
    for key in list(event_dict):
        if key.lower() in PHI_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(event_dict[key])
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level)
    for noisy in ("aiokafka", "faststream", "pymongo", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_phi,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
