"""The one redaction implementation (plugins/plugin_utils/redaction.py) finds a secret in the forms
printing gives it: JSON-escaped, URL-quoted, repr'd, base64 (alone or inside a longer encoded text)."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.filter.redact import redact
from plugins.plugin_utils.redaction import MIN_ENCODED_SECRET, Redactor, printed_forms

SECRET = 'p@ss "wörd"/\\x+1'


@pytest.mark.parametrize(
    "form",
    [
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        repr(SECRET)[1:-1],
        base64.b64encode(SECRET.encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode(),
    ],
)
def test_each_printed_form_is_redacted(form):
    assert redact(f"<{form}>", [SECRET]) == "<[REDACTED]>"


secrets = st.text(st.characters(exclude_categories=["Cs"]), min_size=7, max_size=30)


@settings(max_examples=300, deadline=None)
@given(secrets, st.binary(max_size=7), st.binary(max_size=7), st.booleans())
def test_base64_of_a_longer_text_holding_the_secret_is_redacted(secret, before, after, urlsafe):
    # A secret of 7 bytes or more: every offset leaves a fragment of MIN_ENCODED_SECRET characters.
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    encoded = encode(before + secret.encode() + after).decode()
    assert "[REDACTED]" in Redactor([secret]).text(encoded)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30))
def test_no_base64_fragment_is_shorter_than_the_minimum(secret):
    # Shorter fragments of a short secret could occur in any encoded text by chance.
    encoded = {form for form in printed_forms(secret) if form not in _plain_forms(secret)}
    assert all(len(form) >= MIN_ENCODED_SECRET for form in encoded)


def _plain_forms(secret: str) -> set[str]:
    lines = secret.splitlines()
    joined = {j.join(lines) for j in ("\n", "\r\n", "\r", "\\n", "\\r\\n")} if len(lines) > 1 else set()
    texts = {secret, *lines}
    return (
        texts
        | joined
        | {json.dumps(t)[1:-1] for t in texts}
        | {json.dumps(t, ensure_ascii=False)[1:-1] for t in texts}
        | {quote(t, safe="") for t in texts}
        | {quote(t) for t in texts}
        | {quote_plus(t) for t in texts}
        | {repr(t)[1:-1] for t in texts}
    )


def test_text_holding_none_of_the_forms_is_returned_as_is():
    text = "aGVsbG8gd29ybGQ= hello%20world plain"
    assert Redactor(["hunter-22-secret"]).text(text) is text


def test_a_redactor_without_secrets_changes_nothing():
    redactor = Redactor([])
    data = {"a": ["b"]}
    assert not redactor
    assert redactor.data(data) is data
