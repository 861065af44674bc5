"""Tests for MapDraft, the changes a fold makes to a pyrsistent map."""

from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pmap

from nano.projections._draft import MapDraft

keys = st.sampled_from(["a", "b", "c", "d"])
# ("set", key, value) or ("discard", key, None)
operations = st.lists(
    st.tuples(st.just("set"), keys, st.integers())
    | st.tuples(st.just("discard"), keys, st.none()),
    max_size=20,
)


def test_unchanged_draft_returns_original():
    """A draft with no change returns the very map it started from."""
    original = pmap({"a": 1})
    assert MapDraft(original).persistent() is original


def test_set_then_discard_new_key():
    """A key added and removed in one draft is absent afterwards."""
    draft = MapDraft(pmap({"a": 1}))
    draft["b"] = 2
    assert "b" in draft
    draft.discard("b")
    assert "b" not in draft
    assert draft.persistent() == pmap({"a": 1})


def test_discard_missing_key_no_change():
    """Discarding a key that the map does not contain changes nothing."""
    original = pmap({"a": 1})
    draft = MapDraft(original)
    draft.discard("z")
    assert draft.persistent() is original


@given(st.dictionaries(keys, st.integers()), operations)
def test_draft_matches_dict(start, steps):
    """A draft ends as a dict given the same changes, and keeps its input."""
    original = pmap(start)
    draft = MapDraft(original)
    expected = dict(start)
    for operation, key, value in steps:
        if operation == "set":
            draft[key] = value
            expected[key] = value
        else:
            draft.discard(key)
            expected.pop(key, None)
        assert (key in draft) == (key in expected)
    assert draft.persistent() == pmap(expected)
    assert original == pmap(start)
