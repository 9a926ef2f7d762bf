import json
import logging
import re

import pytest
import structlog
from hotline_shared.logging import configure_logging, redact_value
from hypothesis import given
from hypothesis import strategies as st


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


# ---- every log line through one pipeline; phone numbers in any form ----------------------


SEPARATORS = st.sampled_from(["", " ", "-", "."])


@st.composite
def e164(draw: st.DrawFn) -> tuple[str, str]:
    """+<country><subscriber>, 8 to 15 digits, written plain or in groups."""
    digits = draw(st.text("0123456789", min_size=7, max_size=14).filter(lambda d: d[0] != "0"))
    digits = draw(st.sampled_from("123456789")) + digits
    sep = draw(SEPARATORS)
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=4)))
    parts = [digits[i:j] for i, j in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    return "+" + sep.join(parts), digits


@st.composite
def national(draw: st.DrawFn) -> tuple[str, str]:
    """US (234) 901-3030 / 234-901-3030 / 234.901.3030, UK 020 7946 0958, FR 01 23 45 67 89."""
    d = draw(st.text("0123456789", min_size=10, max_size=10))
    shape = draw(st.sampled_from([
        f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:3]}-{d[3:6]}-{d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}",
        f"{d[:3]} {d[3:6]} {d[6:]}", f"0{d[1:3]} {d[3:7]} {d[7:]}",
        f"0{d[1]} {d[2:4]} {d[4:6]} {d[6:8]} {d[8:]}",
    ]))  # fmt: skip
    return shape, re.sub(r"\D", "", shape)


@given(st.one_of(e164(), national()), st.sampled_from(["call {} now", "{}", "cb:{} ok", "({})"]))
def test_any_written_phone_number_is_masked(number: tuple[str, str], frame: str) -> None:
    written, digits = number
    masked = redact_value(frame.format(written))
    assert digits[-7:] not in re.sub(r"\D", "", masked), (written, masked)


@pytest.mark.parametrize(
    "text",
    ["2026-11-27T18:00:00Z", "6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f", "attempt 3 of 5",
     "took 12.5 ms", "port 8001", "sha 4f2a9c1e7b3d", "center-01", "v1.2.3"],
)  # fmt: skip
def test_ids_times_and_small_numbers_are_kept(text: str) -> None:
    assert redact_value(text) == text


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.strip().splitlines() if line]


def test_standard_library_logs_go_through_the_same_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test")
    logging.getLogger("uvicorn.error").warning("callback to %s failed", "+12349013030")
    logging.getLogger("aiokafka").error("from=%s", "(234) 901-3030")
    out = lines(capsys)
    assert [r["logger"] for r in out] == ["uvicorn.error", "aiokafka"]
    assert all("9013030" not in json.dumps(r) and "901-3030" not in json.dumps(r) for r in out)
    assert out[0]["service"] == "test" and out[0]["level"] == "warning"


def test_exception_text_is_withheld_from_every_logger(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test")
    try:
        raise ValueError("caller said: I have pills and no one to call")
    except ValueError:
        structlog.get_logger().exception("handler.failed")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    out = lines(capsys)
    assert len(out) == 2
    for record in out:
        assert record["exception"] == "ValueError" and record["stack"]
        assert "pills" not in json.dumps(record)
