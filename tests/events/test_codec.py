"""Tests for the event codec: events to JSON records and back."""

import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import freeze, pmap, pvector
from twisted.internet.task import Clock

from nano.events import (
    Event,
    EventDecodeError,
    EventRegistry,
    Journal,
    RegistryError,
    UnknownEventType,
    format_time,
    parse_time,
    utc_time,
)
from nano.events._lines import encode_line, segment_name
from nano.events.core import CORE_EVENTS
from nano.events.guests import GuestCreateStarted  # noqa: F401 (registers)

T0 = utc_time(1_796_400_000.25)

times = st.datetimes(timezones=st.just(UTC))
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

registry = EventRegistry()


@registry.event("ValueRecorded")
class ValueRecorded(Event):
    """A test event whose payload is any JSON value, frozen."""

    value: object = attrs.field(converter=freeze)
    note: str = ""


def round_trip(event: Event) -> Event:
    """Encode to JSON text, parse it and decode, as a journal line is."""
    text = json.dumps(registry.encode(event), ensure_ascii=False)
    return registry.decode(json.loads(text), "test:1")


@given(
    value=json_values,
    note=st.text(),
    aggregate_id=st.text(),
    task_id=st.none() | st.text(),
    time=times,
)
def test_round_trip_any_payload(value, note, aggregate_id, task_id, time):
    """Any JSON payload, id and time survive encoding and decoding."""
    event = ValueRecorded(
        aggregate_id=aggregate_id,
        time=time,
        task_id=task_id,
        value=value,
        note=note,
    )
    assert round_trip(event) == event


# orjson, the journal's JSON library, rejects integers outside this range.
ORJSON_INTEGERS = st.integers(-(2**63), 2**64 - 1)
orjson_values = st.recursive(
    st.none()
    | st.booleans()
    | ORJSON_INTEGERS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(value=orjson_values, time=times)
def test_round_trip_through_orjson(value, time):
    """Payloads in orjson's range round trip through the journal's JSON."""
    event = ValueRecorded(aggregate_id="a", time=time, value=value)
    text = orjson.dumps(registry.encode(event))
    assert registry.decode(orjson.loads(text)) == event


@given(value=json_values)
def test_record_round_trip(value):
    """encode(decode(record)) gives back the same record."""
    record = registry.encode(
        ValueRecorded(aggregate_id="a", time=T0, value=value)
    )
    assert registry.encode(registry.decode(record)) == record


@pytest.mark.parametrize(
    "value",
    [
        2**64 + 1,
        -(2**100),
        "Zürich \u65e5\u672c \U0001f680 \x00 \u2028",
        {"nested": [1, {"deeper": [None, True, 1.5]}]},
        [],
        {},
    ],
)
def test_round_trip_hard_values(value):
    """Big integers, any Unicode and deep nesting round trip."""
    event = ValueRecorded(aggregate_id="a", time=T0, value=value)
    assert round_trip(event) == event


def test_nested_payload_frozen():
    """A decoded nested payload is frozen, as the event it came from."""
    event = round_trip(
        ValueRecorded(aggregate_id="a", time=T0, value={"k": [1, 2]})
    )
    assert event.value == pmap({"k": pvector([1, 2])})


def test_record_shape():
    """A record contains type, version, time, ids and the payload as data."""
    record = registry.encode(
        ValueRecorded(aggregate_id="a", time=T0, task_id="t", value=[1])
    )
    assert record == {
        "type": "ValueRecorded",
        "version": 1,
        "time": "2026-12-04T16:00:00.250000Z",
        "aggregate_id": "a",
        "task_id": "t",
        "data": {"value": [1], "note": ""},
    }


def test_time_keeps_microseconds():
    """Times round trip to the microsecond."""
    time = datetime(2026, 12, 4, 16, 20, 0, 123456, tzinfo=UTC)
    assert parse_time(format_time(time)) == time


def test_parse_time_converts_to_utc():
    """An offset time is converted to UTC."""
    parsed = parse_time("2026-12-04T18:00:00+02:00")
    assert parsed == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(0)


def test_parse_time_rejects_naive():
    """A time without an offset is an error naming the text."""
    with pytest.raises(ValueError, match="'2026-12-04T16:00:00' has no UTC"):
        parse_time("2026-12-04T16:00:00")


@pytest.mark.parametrize(
    "time",
    [
        datetime(2026, 12, 4, 16, 0),
        datetime(2026, 12, 4, 16, 0, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_event_rejects_non_utc_time(time):
    """Events hold only timezone-aware UTC times."""
    with pytest.raises(ValueError, match=r"invalid time .*UTC"):
        ValueRecorded(aggregate_id="a", time=time, value=1)


def test_unknown_type_names_type_and_position():
    """An unknown type is an error naming the type and the position."""
    record = {"type": "NoSuchThing", "version": 1, "time": "x", "data": {}}
    with pytest.raises(UnknownEventType) as caught:
        registry.decode(record, "journal-1.jsonl:17")
    assert caught.value.position == "journal-1.jsonl:17"
    assert "journal-1.jsonl:17" in str(caught.value)
    assert "'NoSuchThing'" in str(caught.value)


def valid_record(**changes):
    """Return a good ValueRecorded record with some fields changed."""
    record = registry.encode(ValueRecorded(aggregate_id="a", time=T0, value=1))
    return {**record, **changes}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([1, 2], "must be an object"),
        (valid_record(time="yesterday"), "invalid ValueRecorded record"),
        (valid_record(aggregate_id=7), "invalid ValueRecorded record"),
        (valid_record(data=[]), "data must be an object"),
        (valid_record(type=["ValueRecorded"]), "unknown event type \\["),
        (valid_record(type={"a": 1}), "unknown event type {"),
        (valid_record(data={"other": 1}), "invalid ValueRecorded record"),
        (valid_record(data={}), "invalid ValueRecorded record"),
        (
            {
                key: value
                for key, value in valid_record().items()
                if key != "time"
            },
            "has no field 'time'",
        ),
    ],
)
def test_decode_rejects_bad_record(record, message):
    """A malformed record is an EventDecodeError naming the position."""
    with pytest.raises(EventDecodeError, match=message) as caught:
        registry.decode(record, "segment:3")
    assert str(caught.value).startswith("segment:3: ")


def test_encode_rejects_unregistered():
    """Encoding an event of another registry is an error."""
    other = EventRegistry()

    @other.event("ValueRecorded")
    class Stranger(Event):
        value: int = 0

    with pytest.raises(RegistryError, match="Stranger is not registered"):
        registry.encode(Stranger(aggregate_id="a", time=T0))


def test_registry_rejects_duplicate_type():
    """A type name can be registered once."""
    with pytest.raises(RegistryError, match="ValueRecorded is already"):

        @registry.event("ValueRecorded")
        class Again(Event):
            pass


def test_registry_rejects_version_zero():
    """Versions start at 1."""
    with pytest.raises(RegistryError, match="invalid version 0"):

        @EventRegistry().event("Thing", version=0)
        class Thing(Event):
            pass


def test_registry_rejects_non_event():
    """Only Event subclasses can be registered."""
    with pytest.raises(RegistryError, match="NotAnEvent must subclass"):

        @EventRegistry().event("NotAnEvent")
        class NotAnEvent:
            pass


#: Strategies for the payload types that hypothesis cannot infer valid
#: values of: counts and sizes, which events require to be 1 or more.
_SIZE = st.integers(min_value=1, max_value=2**63 - 1)
SIZE_STRATEGIES = {
    int: _SIZE,
    tuple: st.lists(_SIZE, min_size=1, max_size=4).map(tuple),
}


def core_event_strategy(cls):
    """
    Build events of one core class; hypothesis infers each payload field
    from its type, defaults included (the ``...`` argument).
    """
    payload = {
        field.name: SIZE_STRATEGIES.get(field.type, ...)
        for field in attrs.fields(cls)
        if field.name not in {"aggregate_id", "time", "task_id"}
    }
    return st.builds(
        cls,
        time=times,
        aggregate_id=st.text(),
        task_id=st.none() | st.text(),
        **payload,
    )


core_events = st.one_of(
    [core_event_strategy(cls) for cls in CORE_EVENTS.types().values()]
)


@given(core_events)
def test_core_events_round_trip(event):
    """Every core event type round trips through JSON text."""
    text = json.dumps(CORE_EVENTS.encode(event))
    assert CORE_EVENTS.decode(json.loads(text)) == event


def test_time_before_year_1000_round_trips():
    """Years below 1000 keep four digits, so parse_time reads them back."""
    early = datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert format_time(early) == "0005-01-02T03:04:05.000006Z"
    assert parse_time(format_time(early)) == early


def pool_modified_record(**changes) -> dict:
    """Return a good ComputePoolModified record with payload changes."""
    event = CORE_EVENTS.types()["ComputePoolModified"](
        aggregate_id="pool-1",
        time=T0,
        storage=None,
        network="addresses-1",
        failover=False,
        enabled=True,
    )
    record = CORE_EVENTS.encode(event)
    return {**record, "data": {**record["data"], **changes}}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("failover", "yes", "True or False, not str"),
        ("enabled", 1, "True or False, not int"),
        ("enabled", None, "True or False, not NoneType"),
        ("storage", 3, "a string or None, not int"),
        ("network", ["a"], "a string or None, not list"),
    ],
)
def test_decode_rejects_wrong_field_type(field, value, expected):
    """A wrongly typed payload field is an error naming field and place."""
    record = pool_modified_record(**{field: value})
    with pytest.raises(EventDecodeError) as caught:
        CORE_EVENTS.decode(record, "journal-1.jsonl:9")
    assert caught.value.position == "journal-1.jsonl:9"
    assert caught.value.message == (
        f"invalid ComputePoolModified record: invalid {field} {value!r}: "
        f"must be {expected}"
    )


def test_decode_rejects_wrong_template_field():
    """A template record with a number for its USB model is rejected."""
    template = CORE_EVENTS.types()["SystemTemplateCreated"]
    record = CORE_EVENTS.encode(
        template(
            aggregate_id="t-1",
            time=T0,
            **dict.fromkeys(
                [
                    "name",
                    "admin",
                    "operating_system",
                    "disk",
                    "network",
                    "display",
                    "control",
                    "usb",
                    "tablet",
                ],
                "x",
            ),
        )
    )
    record["data"]["usb"] = 3
    with pytest.raises(EventDecodeError, match="invalid usb 3: must be a"):
        CORE_EVENTS.decode(record, "journal-1.jsonl:2")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": True}, "invalid version True"),
        ({"version": 1.0}, "invalid version 1.0"),
        ({"version": 2}, "version 2 is newer"),
        ({"data": [1]}, "data must be an object"),
        ({"task_id": 5}, "invalid task_id 5: must be a string or None"),
    ],
)
def test_decode_checks_version_and_data(changes, message):
    """The version and data of a current record are still checked."""
    record = {**pool_modified_record(), **changes}
    with pytest.raises(EventDecodeError, match=message):
        CORE_EVENTS.decode(record, "journal-1.jsonl:4")


def test_decoded_core_event_equals_original():
    """A ComputePoolModified record decodes to the event it came from."""
    record = pool_modified_record()
    event = CORE_EVENTS.decode(record)
    assert CORE_EVENTS.encode(event) == record
    assert event.time.tzinfo is UTC


def test_journal_read_names_line_of_wrong_type(tmp_path):
    """
    Reading a journal whose line 2 has a wrongly typed field (with an
    intact checksum) names that file and line.
    """
    segment = tmp_path / segment_name(1)
    segment.write_bytes(
        encode_line(1, pool_modified_record())
        + encode_line(2, pool_modified_record(failover="no"))
    )
    journal = Journal.open(tmp_path, CORE_EVENTS, Clock())
    events = journal.read()
    assert next(events)[0] == 1
    with pytest.raises(
        EventDecodeError, match="invalid failover 'no'"
    ) as caught:
        next(events)
    assert caught.value.position == f"{segment}:2"
    journal.close()
