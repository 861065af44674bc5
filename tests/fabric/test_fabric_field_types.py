"""Received messages are checked against their fields' annotations."""

import typing

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nano.fabric import MessageError, MessageRegistry

registry = MessageRegistry()


@registry.message("Everything")
class Everything:
    text: str
    count: int
    load: float
    flag: bool
    names: list[str]
    items: list
    labels: dict[str, int]
    details: dict
    note: str | None = None
    choice: int | str = 0
    anything: typing.Any = None
    nested: list[dict[str, list[int]]] = attrs.field(factory=list)


@registry.message("Later")
class Later:
    name: "str"
    sizes: "list[int]"


VALID = {
    "text": "vm1",
    "count": 2,
    "load": 0.5,
    "flag": True,
    "names": ["a", "b"],
    "items": [1, "x", None],
    "labels": {"a": 1},
    "details": {"any": ["thing"]},
}


def decode(**fields):
    """Decode an Everything request with ``fields`` over the valid ones."""
    value = {"type": "Everything", "from_session": 5, **VALID, **fields}
    return registry.decode(orjson.dumps(value))


def test_valid_values_accepted():
    """Values of the annotated types build the message."""
    message, envelope = decode(
        load=1, note="n", choice="c", anything={"x": 1}, nested=[{"a": [1]}]
    )
    assert message.load == 1
    assert message.note == "n"
    assert message.choice == "c"
    assert message.anything == {"x": 1}
    assert message.nested == [{"a": [1]}]
    assert envelope == {"from_session": 5}


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("text", {"first": "vm1"}, "a string"),
        ("text", None, "a string"),
        ("count", "2", "a whole number"),
        ("count", 2.0, "a whole number"),
        ("count", True, "a whole number"),
        ("load", "0.5", "a number"),
        ("load", False, "a number"),
        ("flag", 1, "true or false"),
        ("names", "ab", "a list of strings"),
        ("names", ["a", 2], "a list of strings"),
        ("items", {"a": 1}, "a list"),
        ("labels", {"a": "1"}, "a JSON object of whole numbers"),
        ("labels", [1], "a JSON object of whole numbers"),
        ("details", [], "a JSON object"),
        ("note", 5, "a string or null"),
        ("choice", None, "a whole number or a string"),
        ("nested", [{"a": ["1"]}], "a list of JSON objects of lists of"),
    ],
)
def test_wrong_type_named(field, value, accepted):
    """A value of another JSON type is rejected, naming field and type."""
    with pytest.raises(MessageError) as caught:
        decode(**{field: value})
    message = str(caught.value)
    assert message.startswith(f"invalid Everything: invalid {field} ")
    assert f"{value!r}: must be {accepted}" in message
    assert caught.value.envelope == {"from_session": 5}


def test_long_value_cut():
    """An error shows the start of a long value, not all of it."""
    with pytest.raises(MessageError) as caught:
        decode(text=["x" * 100_000])
    message = str(caught.value)
    assert "invalid text ['xxxx" in message
    assert "... (100004 characters): must be a string" in message
    assert len(message) < 400


def test_string_annotations_resolved():
    """Annotations written as strings are checked like the others."""
    data = b'{"type": "Later", "name": "a", "sizes": [1, "2"]}'
    with pytest.raises(MessageError, match="must be a list of whole numbers"):
        registry.decode(data)


@pytest.mark.parametrize(
    ("annotation", "problem"),
    [
        (tuple, "is not a JSON type"),
        (set[str], "is not a JSON type"),
        (dict[int, str], "is not a JSON type"),
        (list[bytes], "is not a JSON type"),
        ("Undefined", "cannot resolve the annotations"),
    ],
)
def test_non_json_annotation_rejected(annotation, problem):
    """A message type whose field is not a JSON type cannot be declared."""
    cls = attrs.make_class("Odd", {"value": attrs.field(type=annotation)})
    with pytest.raises(ValueError, match=problem):
        MessageRegistry().message("Odd")(cls)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(sorted(VALID)), json_values))
def test_any_json_builds_or_is_rejected(fields):
    """Any JSON in any field builds a message or raises MessageError."""
    try:
        message, _ = decode(**fields)
    except MessageError as error:
        assert str(error).startswith("invalid Everything: invalid ")
        return
    for name, value in fields.items():
        assert getattr(message, name) == value
