"""Property tests for the journal's line format."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nano.events._lines import (
    LineDamage,
    check_line,
    encode_line,
    parse_record,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
records = st.dictionaries(st.text(max_size=8), json_values, max_size=6)
seqs = st.integers(min_value=1, max_value=10**15)


@given(seqs, records)
def test_line_round_trip(seq, record):
    """Every line encodes to one newline-terminated line that reads back."""
    line = encode_line(seq, record)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert check_line(line[:-1]) == seq
    assert parse_record(line[:-1]) == orjson.loads(orjson.dumps(record))


@given(seqs, records, st.data())
def test_any_changed_byte_detected(seq, record, data):
    """Changing any one byte of a line makes the check fail."""
    line = encode_line(seq, record)[:-1]
    index = data.draw(st.integers(min_value=0, max_value=len(line) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255))
    changed = line[:index] + bytes([value]) + line[index + 1 :]
    if changed == line:
        return
    with pytest.raises(LineDamage):
        check_line(changed)


@given(seqs, records, st.data())
def test_truncated_line_is_torn_or_damaged(seq, record, data):
    """A line cut short fails the check and looks like a torn write."""
    line = encode_line(seq, record)[:-1]
    cut = data.draw(st.integers(min_value=0, max_value=len(line) - 1))
    with pytest.raises(LineDamage) as caught:
        check_line(line[:cut])
    assert caught.value.torn
