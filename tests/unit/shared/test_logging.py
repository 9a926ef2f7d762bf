import json

import structlog
from hotline_shared.logging import configure_logging, redact_value


def test_phone_numbers_are_masked_in_any_value() -> None:
    text = redact_value("call back +12349013030 or (234) 901-3030 or 234.901.3030")
    assert "9013030" not in text and "901-3030" not in text and "901.3030" not in text


def test_ids_and_timestamps_survive_redaction() -> None:
    value = "6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f at 2026-11-27T18:00:00Z"
    assert redact_value(value) == value


def test_log_lines_carry_no_phi(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging("test")
    structlog.get_logger().info(
        "contact.received", From="+12349013030", notes="feels hopeless", contact_id="c-1",
        detail={"caller_name": "Jane Doe", "note": "x"},
    )  # fmt: skip
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert "12349013030" not in line and "hopeless" not in line and "Jane" not in line
    assert record["contact_id"] == "c-1"
