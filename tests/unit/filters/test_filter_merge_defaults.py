"""merge_defaults: defaults fill gaps, overrides win, unknown and missing keys fail together."""

from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.filter.merge_defaults import FilterModule, merge_defaults

DEFAULTS = {"PORT": 8000, "LOG_LEVEL": "info", "SECRET_KEY": "", "DATABASE_URL": None, "OPTS": {"a": 1}}


def test_absent_and_none_keys_take_the_default():
    out = merge_defaults({"PORT": None, "LOG_LEVEL": "debug"}, DEFAULTS)
    assert out == {**DEFAULTS, "LOG_LEVEL": "debug"}


def test_falsy_overrides_other_than_none_win():
    out = merge_defaults({"PORT": 0, "LOG_LEVEL": "", "OPTS": {}}, DEFAULTS)
    assert (out["PORT"], out["LOG_LEVEL"], out["OPTS"]) == (0, "", {})


def test_merge_is_shallow():
    assert merge_defaults({"OPTS": {"b": 2}}, DEFAULTS)["OPTS"] == {"b": 2}


def test_none_overrides_count_as_empty():
    assert merge_defaults(None, DEFAULTS) == DEFAULTS


def test_inputs_are_never_mutated_or_shared():
    overrides, defaults = {"OPTS": {"b": [1]}}, copy.deepcopy(DEFAULTS)
    out = merge_defaults(overrides, defaults)
    out["OPTS"]["b"].append(2)
    out["LOG_LEVEL"] = "x"
    assert overrides == {"OPTS": {"b": [1]}} and defaults == DEFAULTS
    assert merge_defaults({}, defaults)["OPTS"] is not defaults["OPTS"]


def test_all_missing_required_keys_are_named_in_one_error():
    with pytest.raises(AnsibleFilterError) as error:
        merge_defaults({"SECRET_KEY": "  "}, DEFAULTS, required=["SECRET_KEY", "DATABASE_URL", "NEW"])
    message = str(error.value)
    assert "'SECRET_KEY'" in message and "'DATABASE_URL'" in message and "'NEW'" in message


def test_required_keys_with_values_pass():
    out = merge_defaults({"SECRET_KEY": "k", "DATABASE_URL": "sqlite://"}, DEFAULTS, ["SECRET_KEY", "PORT"])
    assert out["SECRET_KEY"] == "k"


def test_unknown_key_suggests_the_closest_known_key_without_echoing_values():
    with pytest.raises(AnsibleFilterError) as error:
        merge_defaults({"SECRET_KY": "hunter2", "log_level": "x", "ZZZZ": 1}, DEFAULTS)
    message = str(error.value)
    assert "'SECRET_KY' (did you mean 'SECRET_KEY'?)" in message
    assert "'log_level' (did you mean 'LOG_LEVEL'?)" in message
    assert "'ZZZZ'" in message and "'ZZZZ' (did" not in message
    assert "hunter2" not in message


def test_unknown_and_missing_keys_are_reported_together():
    with pytest.raises(AnsibleFilterError, match=r"unknown keys: 'SECRET_KY'.*required keys.*'SECRET_KEY'"):
        merge_defaults({"SECRET_KY": "pw"}, DEFAULTS, required=["SECRET_KEY"])


def test_allow_unknown_keeps_extra_keys_but_drops_unknown_none():
    out = merge_defaults({"EXTRA": "x", "GONE": None}, DEFAULTS, allow_unknown=True)
    assert out == {**DEFAULTS, "EXTRA": "x"}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([], DEFAULTS), "input .* must be a dict, got list"),
        (({}, "PORT=1"), "defaults must be a dict, got str"),
        (({}, DEFAULTS, "PORT"), "required must be a list"),
        (({}, DEFAULTS, [], "yes"), "allow_unknown must be a boolean"),
    ],
)
def test_bad_argument_types_are_errors(args, match):
    with pytest.raises(AnsibleFilterError, match=match):
        merge_defaults(*args)


def test_filter_module_exposes_merge_defaults():
    assert FilterModule().filters() == {"merge_defaults": merge_defaults}


keys = st.sampled_from(["A", "B", "C", "D", "E"])
values = st.one_of(st.none(), st.integers(), st.text(max_size=4), st.lists(st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values), st.dictionaries(keys, values))
def test_missing_settings_take_defaults_and_set_ones_win(defaults, candidate):
    overrides = {key: value for key, value in candidate.items() if key in defaults}
    before = copy.deepcopy((overrides, defaults))
    out = merge_defaults(overrides, defaults)
    assert set(out) == set(defaults)
    for key, default in defaults.items():
        given_value = overrides.get(key)
        assert out[key] == (default if given_value is None else given_value)
    assert (overrides, defaults) == before


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, values), st.lists(keys, unique=True))
def test_error_iff_a_required_key_is_unset(merged_defaults, required):
    values_ = [merged_defaults.get(key) for key in required]
    unset = [
        k
        for k, v in zip(required, values_, strict=True)
        if v is None or (isinstance(v, str) and not v.strip())
    ]
    if unset:
        with pytest.raises(AnsibleFilterError) as error:
            merge_defaults({}, merged_defaults, required)
        assert all(repr(key) in str(error.value) for key in unset)
    else:
        assert merge_defaults({}, merged_defaults, required) == merged_defaults
