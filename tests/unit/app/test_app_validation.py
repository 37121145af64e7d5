"""validate_item given the JSON text as well decides exactly as it does from the parsed tree alone."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import ApiError
from app.ids import new_id
from app.json_body import parse_json
from app.validation import validate_item

# Strings may hold lone surrogates (no category excluded).
strings = st.text(st.characters(exclude_categories=()), max_size=3)
values = st.recursive(
    st.none() | st.integers() | strings,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(strings, children, max_size=3),
    max_leaves=12,
)


def _outcome(payload: object, max_depth: int, source: bytes | None) -> str:
    try:
        validate_item(payload, max_depth, source)
    except ApiError as exc:
        return exc.message
    return "ok"


@given(data=values, max_depth=st.integers(1, 6), ascii_only=st.booleans())
def test_the_text_spares_the_walk_without_changing_the_verdict(
    data: object, max_depth: int, ascii_only: bool
) -> None:
    try:
        # ensure_ascii writes \u escapes (lone surrogates included); without it a surrogate can't be UTF-8.
        source = json.dumps({"name": "n", "data": data}, ensure_ascii=ascii_only).encode()
    except UnicodeEncodeError:
        return
    payload = parse_json(source)
    assert _outcome(payload, max_depth, source) == _outcome(payload, max_depth, None)


@pytest.mark.parametrize(
    "source",
    [b'{"name": "n", "data": {"a": [[[]]]}}', b'{"name": "n", "data": {"\\ud800": 1}}'],
)
def test_deep_or_surrogate_text_is_still_refused(source: bytes) -> None:
    with pytest.raises(ApiError):
        validate_item(parse_json(source), 3, source)


def test_new_ids_are_canonical_time_ordered_uuid7() -> None:
    ids = [new_id() for _ in range(2000)]
    for text in ids:
        value = uuid.UUID(text)
        assert str(value) == text
        assert (value.version, value.variant) == (7, uuid.RFC_4122)
    millis = [uuid.UUID(text).int >> 80 for text in ids]
    assert millis == sorted(millis)
