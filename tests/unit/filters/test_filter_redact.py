"""redact: unit cases and properties (no secret survives, clean text is untouched)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.filter.redact import DEFAULT_REPLACEMENT, FilterModule, redact

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDk4rXh0yq2mVxXH2c8F0kJp3w2M1v0c8Zp0hVYVn5dQQAAAJh9Xv8yfV7/\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


def test_replaces_every_occurrence():
    assert redact("a=hunter2 b=hunter2", ["hunter2"]) == "a=[REDACTED] b=[REDACTED]"


def test_overlapping_secrets_redact_the_union_of_their_spans():
    assert redact("xabcdefx", ["abcd", "cdef"]) == "x[REDACTED]x"


def test_overlapping_occurrences_of_one_secret_are_merged():
    assert redact("baaaab", ["aaa"]) == "b[REDACTED]b"


def test_adjacent_secrets_become_one_replacement():
    assert redact("<onetwo>", ["one", "two"]) == "<[REDACTED]>"


def test_clean_text_is_returned_as_the_same_object():
    text = "nothing to hide here"
    assert redact(text, ["hunter2", "s3cret"]) is text


def test_secret_inside_the_replacement_gets_a_fallback():
    out = redact("user=RED pass=RED", ["RED"])
    assert "RED" not in out
    assert out == "user=******** pass=********"


def test_custom_replacement_containing_a_secret_falls_back_to_the_default():
    assert redact("key=xyz", ["xyz", "*"], replacement="***") == "key=[REDACTED]"


def test_fallback_avoids_every_character_used_by_secrets():
    secrets = ["[", "]", "R", "*", "#", "?", "X", "~", "%"]
    out = redact("a[b]R*#?X~%c", secrets)
    assert all(secret not in out for secret in secrets)
    assert out.startswith("a") and out.endswith("c")


def test_secret_formed_by_replacement_and_neighbour_is_redacted():
    # "abc " becomes "[REDACTED]", whose last two characters and the "x" after it spell "D]x".
    out = redact("abc x", ["abc ", "D]x"])
    assert "D]x" not in out and "abc " not in out
    assert out == "[REDACTED]"


def test_pem_key_redacted_exactly_and_with_crlf_and_escaped_newlines():
    assert redact(f"key: {PEM} end", [PEM]) == "key: [REDACTED] end"
    assert redact("k=" + PEM.replace("\n", "\r\n"), [PEM]) == "k=[REDACTED]"
    assert redact('{"k": "' + PEM.replace("\n", "\\n") + '"}', [PEM]) == '{"k": "[REDACTED]"}'


def test_pem_body_lines_printed_alone_are_redacted_but_short_lines_are_not():
    body = PEM.splitlines()[1]
    out = redact(f"line 2: {body}\n-----\n", [PEM])
    assert body not in out
    assert out == "line 2: [REDACTED]\n-----\n"


def test_nested_structure_is_kept_and_values_redacted():
    data = {"env": {"DB": "postgres://u:pw1@h"}, "args": ["--token", "tok9"], "pair": ("pw1", 3)}
    assert redact(data, {"db": "pw1", "api": "tok9"}) == {
        "env": {"DB": "postgres://u:[REDACTED]@h"},
        "args": ["--token", "[REDACTED]"],
        "pair": ("[REDACTED]", 3),
    }


def test_input_is_not_mutated():
    data = {"a": ["pw1"]}
    redact(data, ["pw1"])
    assert data == {"a": ["pw1"]}


def test_dict_keys_are_redacted_and_colliding_keys_are_an_error():
    assert redact({"pw1": 1}, ["pw1"]) == {"[REDACTED]": 1}
    with pytest.raises(AnsibleFilterError, match="become the same") as error:
        redact({"pw1": 1, "pw2": 2}, ["pw1", "pw2"])
    assert "pw1" not in str(error.value) and "pw2" not in str(error.value)


def test_numbers_are_compared_by_their_printed_form():
    assert redact({"pin": 123456, "port": 8000, "on": True}, [123456]) == {
        "pin": "[REDACTED]",
        "port": 8000,
        "on": True,
    }


def test_none_empty_and_boolean_secrets_are_ignored():
    assert redact("keep this text", [None, "", True, False, {"unset": None}]) == "keep this text"


def test_nested_secret_dicts_are_flattened():
    assert redact("a=s1 b=s2", {"db": {"password": "s1"}, "tokens": ["s2"]}) == "a=[REDACTED] b=[REDACTED]"


def test_bad_secret_type_is_an_error_naming_type_and_position():
    with pytest.raises(AnsibleFilterError, match=r"secrets\[1\].*object"):
        redact("text", ["s1", object()])


@pytest.mark.parametrize("replacement", ["", None, 5])
def test_replacement_must_be_a_non_empty_string(replacement):
    with pytest.raises(AnsibleFilterError, match="replacement must be a non-empty string"):
        redact("text", ["x"], replacement)


def test_filter_module_exposes_redact():
    assert FilterModule().filters() == {"redact": redact}


# Properties. A small alphabet that shares characters with "[REDACTED]" and the fallbacks makes
# overlaps, adjacency and secrets inside the replacement frequent.
ALPHABET = "abRED[]*#\n\r -"
secret_text = st.text(ALPHABET, min_size=1, max_size=6)
replacements = st.one_of(st.sampled_from([DEFAULT_REPLACEMENT, "***", "RED", "a", "[", "#"]), secret_text)


@st.composite
def text_with_secrets(draw):
    secrets = draw(st.lists(secret_text, min_size=1, max_size=5))
    parts = draw(st.lists(st.one_of(st.text(ALPHABET, max_size=5), st.sampled_from(secrets)), max_size=12))
    return "".join(parts), secrets


@settings(max_examples=400, deadline=None)
@given(text_with_secrets(), replacements)
def test_no_secret_survives(case, replacement):
    text, secrets = case
    out = redact(text, secrets, replacement)
    assert not [secret for secret in secrets if secret in out]


@settings(max_examples=200, deadline=None)
@given(st.text("xyz0123 \n", max_size=40), st.lists(st.text("abc[]", min_size=1, max_size=5), max_size=5))
def test_text_without_secrets_is_unchanged(text, secrets):
    assert redact(text, secrets) is text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text("ab", max_size=3), st.sampled_from(["abab", "ba", "bab"])), max_size=10))
def test_redacted_spans_are_exactly_the_union_of_matches(parts):
    # Oracle: mark every character covered by any occurrence, replace each run of marks by one "#".
    # Secrets and replacement share no character, so no span needs to grow.
    text, secrets = "".join(parts), ["abab", "ba", "bab"]
    covered = [False] * len(text)
    for secret in secrets:
        for start in range(len(text) - len(secret) + 1):
            if text.startswith(secret, start):
                covered[start : start + len(secret)] = [True] * len(secret)
    expected = "".join(
        "#" if covered[i] and (i == 0 or not covered[i - 1]) else "" if covered[i] else text[i]
        for i in range(len(text))
    )
    assert redact(text, secrets, "#") == expected


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(ALPHABET, max_size=8))
nested = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text("xyz", max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)


def _strings(data):
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(data, list | tuple):
        for item in data:
            yield from _strings(item)
    else:
        yield str(data)


def _shape(data):
    if isinstance(data, dict):
        return {"dict": [_shape(value) for value in data.values()]}
    if isinstance(data, list):
        return [_shape(item) for item in data]
    return "scalar"


@settings(max_examples=200, deadline=None)
@given(nested, st.lists(secret_text, min_size=1, max_size=4))
def test_nested_data_keeps_its_shape_and_loses_every_secret(data, secrets):
    out = redact(data, secrets)
    assert _shape(out) == _shape(data)
    assert not [text for text in _strings(out) for secret in secrets if secret in text]


def test_a_single_string_is_one_secret():
    assert redact("a=pw1", "pw1") == "a=[REDACTED]"
