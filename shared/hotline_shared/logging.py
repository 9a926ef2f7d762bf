"""JSON logging that never writes PHI. structlog's own events and the standard library's
(uvicorn, aiokafka, pymongo, httpx) go through one pipeline: PHI keys are dropped, anything
shaped like a phone number (E.164 or a national form) is masked, and an exception is logged
by its type and stack, never by its message (which may quote the input)."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are PHI wherever they appear.
PHI_KEYS = frozenset(
    {
        "phone", "phone_number", "from", "from_", "to", "caller", "caller_number", "number",
        "e164", "ani", "dnis", "name", "caller_name", "notes", "note", "text", "free_text",
        "safety_plan", "body", "callername", "email", "answers", "risk_reason",
    }
)  # fmt: skip
# A run of digits with the separators phone numbers are written with (+, spaces, dots,
# dashes, parentheses); it is a phone number when it holds 7 to 15 digits. Dates (2026-11-27)
# and times are left alone; ids never match (a letter or dash next to the run stops it).
CANDIDATE_RE = re.compile(r"(?<![\w-])\+?\(?\d(?:[\d\s().-]*\d)?(?![\w-])")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
REDACTED = "[redacted]"


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if digits < 7 or digits > 15 or DATE_RE.fullmatch(text.strip()):
        return text
    return REDACTED


def redact_text(value: str) -> str:
    return CANDIDATE_RE.sub(_mask, value)


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
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
    """Drop PHI keys, mask anything shaped like a phone number."""
    for key in list(event_dict):
        if key.lower() in PHI_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(event_dict[key])
    return event_dict


def exception_without_text(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """An exception as its type and where it happened; its message is withheld."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if exc_info and exc_info[0] is not None:
        frames = traceback.extract_tb(exc_info[2])
        event_dict["exception"] = exc_info[0].__name__
        event_dict["stack"] = [f"{f.filename}:{f.lineno} {f.name}" for f in frames[-8:]]
    event_dict.pop("exception_text", None)
    return event_dict


def _stdlib_message(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A standard-library record's message (its args formatted in) as the event."""
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        event_dict["event"] = record.getMessage()
        event_dict["logger"] = record.name
        if record.exc_info and "exc_info" not in event_dict:
            event_dict["exc_info"] = record.exc_info
    return event_dict


SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    exception_without_text,
    redact_phi,
]


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_stdlib_message, *SHARED],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer()],
    ))  # fmt: skip
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []  # through the root handler, like every other
        logging.getLogger(name).propagate = True
    for noisy in ("aiokafka", "faststream", "pymongo", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*SHARED, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
