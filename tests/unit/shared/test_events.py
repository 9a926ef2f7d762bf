import json

import pytest
from hotline_shared.events import (
    CONTACTS_TOPIC,
    EVENT_TYPES,
    TOPIC_OF_TYPE,
    ContactAbandoned,
    ContactAbandonedData,
    UnknownEventType,
    new_event,
    parse_event,
)
from pydantic import ValidationError

from tests.factories import SAMPLE_DATA, T0, sample_envelope, sample_event

ALL_TYPES = sorted(EVENT_TYPES)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_every_event_round_trips_through_json(event_type: str) -> None:
    event = sample_event(event_type)
    again = parse_event(event.model_dump_json())
    assert again == event
    assert type(again) is EVENT_TYPES[event_type]


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_a_data_field_a_newer_producer_added_is_ignored(event_type: str) -> None:
    """Tolerant reader: the event is read as this version knows it (and a field this version
    does not know is never stored)."""
    body = sample_envelope(event_type, data={**SAMPLE_DATA[event_type], "added_in_v1_1": "x"})
    assert parse_event(json.dumps(body)) == sample_event(event_type)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_a_cloudevents_extension_attribute_is_ignored(event_type: str) -> None:
    body = sample_envelope(event_type, partitionkey="k-1", sequence="42")
    assert parse_event(json.dumps(body)) == sample_event(event_type)


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_the_distributed_tracing_extension_is_read_and_written_back(event_type: str) -> None:
    body = sample_envelope(event_type, traceparent=TRACEPARENT, tracestate="vendor=1")
    event = parse_event(json.dumps(body))
    assert (event.traceparent, event.tracestate) == (TRACEPARENT, "vendor=1")
    assert json.loads(event.model_dump_json())["traceparent"] == TRACEPARENT


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_an_untraced_event_has_no_tracing_attributes_at_all(event_type: str) -> None:
    """CloudEvents attributes are present with a value or absent, never null."""
    dumped = json.loads(sample_event(event_type).model_dump_json())
    assert "traceparent" not in dumped and "tracestate" not in dumped


def test_a_malformed_traceparent_is_refused() -> None:
    event_type = ALL_TYPES[0]
    with pytest.raises(ValidationError):
        parse_event(json.dumps(sample_envelope(event_type, traceparent="00-zz")))


def test_a_field_added_inside_a_nested_object_is_ignored() -> None:
    event_type = "hotline.risk.assessed.v1"
    data = {
        **SAMPLE_DATA[event_type],
        "override": {"level": "high", "reason_code": "raised", "by_ai": True},
    }
    event = parse_event(json.dumps(sample_envelope(event_type, data=data)))
    assert event.data.override is not None and event.data.override.level == "high"


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_a_missing_field_still_raises_with_its_name(event_type: str) -> None:
    data = {k: v for k, v in SAMPLE_DATA[event_type].items() if k != "contact_id"}
    with pytest.raises(ValidationError) as err:
        parse_event(json.dumps(sample_envelope(event_type, data=data)))
    assert "contact_id" in str(err.value)


def test_a_producer_stays_strict() -> None:
    with pytest.raises(ValidationError):
        ContactAbandonedData.model_validate(
            {**SAMPLE_DATA["hotline.contact.abandoned.v1"], "extra": 1}
        )


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_wrong_type_is_rejected_with_the_field_named(event_type: str) -> None:
    data = {**SAMPLE_DATA[event_type], "contact_id": {"not": "a string"}}
    with pytest.raises(ValidationError) as err:
        parse_event(json.dumps(sample_envelope(event_type, data=data)))
    assert "contact_id" in str(err.value)


def test_naive_timestamps_are_rejected() -> None:
    body = sample_envelope("hotline.contact.started.v1", time="2026-11-27T18:00:00")
    with pytest.raises(ValidationError) as err:
        parse_event(json.dumps(body))
    assert "time" in str(err.value)


def test_events_are_frozen() -> None:
    event = sample_event("hotline.contact.started.v1")
    with pytest.raises(ValidationError):
        event.id = "other"  # type: ignore[misc]


def test_unknown_event_type_is_reported_as_such() -> None:
    body = sample_envelope("hotline.contact.started.v1", type="hotline.contact.teleported.v9")
    with pytest.raises(UnknownEventType):
        parse_event(json.dumps(body))


def test_every_type_has_a_topic_by_its_family() -> None:
    assert TOPIC_OF_TYPE["hotline.contact.abandoned.v1"] == CONTACTS_TOPIC
    for name, topic in TOPIC_OF_TYPE.items():
        family = name.split(".")[1]
        assert family in topic


def test_new_event_derives_its_id_from_the_cause() -> None:
    data = ContactAbandonedData.model_validate(SAMPLE_DATA["hotline.contact.abandoned.v1"])
    make = lambda: new_event(  # noqa: E731
        ContactAbandoned, data=data, center_id="center-01", source="hotline/intake",
        time=T0, cause=("twilio", "CA1", "abandoned"),
    )  # fmt: skip
    first, second = make(), make()
    assert first.id == second.id
    assert first.subject == data.contact_id
    assert first.topic == CONTACTS_TOPIC
