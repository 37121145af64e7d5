"""to_dotenv: rendering rules, refusals that name the key and never the value, python reader round trip."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.community.docker.plugins.module_utils._api.utils.utils import parse_env_file
from hypothesis import given, settings
from hypothesis import strategies as st
from support.dotenv_cases import HARD_VALUES, KEYS, VALUES, expected_text

from plugins.filter.to_dotenv import MAX_LINE_BYTES, FilterModule, to_dotenv


def test_lines_are_sorted_literal_and_newline_terminated():
    text = to_dotenv({"B": "x y", "A": '"q" # $X', "C_1": ""})
    assert text == 'A="q" # $X\nB=x y\nC_1=\n'


def test_empty_mapping_gives_empty_text():
    assert to_dotenv({}) == ""


def test_booleans_and_integers():
    assert to_dotenv({"ON": True, "OFF": False, "N": -42, "BIG": 2**70}) == (
        f"BIG={2**70}\nN=-42\nOFF=false\nON=true\n"
    )


def test_leading_whitespace_is_kept():
    assert to_dotenv({"K": "  x"}) == "K=  x\n"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("line1\nline2-s3cret", "line break"),
        ("s3cret\r", "line break"),
        ("s3c\rret", "line break"),
        ("s3c\0ret", "NUL"),
        ("s3cret ", "ends in whitespace"),
        ("s3cret\t", "ends in whitespace"),
        ("s3cret\u00a0", "ends in whitespace"),
        ("s3cret\ud800", "not valid UTF-8"),
        (None, "is null"),
        (1.5, "has type float"),
        (["s3cret"], "has type list"),
        ({"s3cret": 1}, "has type dict"),
    ],
)
def test_values_that_cannot_be_carried_name_the_key_not_the_value(value, reason):
    with pytest.raises(AnsibleFilterError, match=reason) as error:
        to_dotenv({"OK": "fine", "DB_PASSWORD": value})
    message = str(error.value)
    assert "'DB_PASSWORD'" in message
    assert "s3c" not in message and "line2" not in message


def test_line_length_limit_matches_docker():
    key = "K"
    longest = "x" * (MAX_LINE_BYTES - len("K="))
    assert to_dotenv({key: longest}) == f"K={longest}\n"
    with pytest.raises(AnsibleFilterError, match=r"'K' makes a line of 65536 bytes"):
        to_dotenv({key: longest + "x"})
    with pytest.raises(AnsibleFilterError, match="65536 bytes"):
        to_dotenv({key: "x" * (MAX_LINE_BYTES - 3) + "é"})  # é is two bytes in UTF-8


@pytest.mark.parametrize("key", ["1ABC", "A-B", "A B", "", "ÄB", "A\n", "A=B", " A"])
def test_invalid_names_are_errors(key):
    with pytest.raises(AnsibleFilterError, match="not a valid variable name"):
        to_dotenv({key: "v"})


def test_non_string_key_is_an_error():
    with pytest.raises(AnsibleFilterError, match="keys must be strings, got a key of type int"):
        to_dotenv({1: "v"})


def test_input_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError, match="must be a dict of settings, got list"):
        to_dotenv([("A", "b")])


def test_filter_module_exposes_to_dotenv():
    assert FilterModule().filters() == {"to_dotenv": to_dotenv}


def test_hard_values_survive_community_docker_env_file_reader(tmp_path):
    mapping = {f"V{index}": value for index, value in enumerate(HARD_VALUES)}
    path = tmp_path / "hard.env"
    path.write_text(to_dotenv(mapping), encoding="utf-8")
    assert parse_env_file(str(path)) == mapping


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=20))
def test_accepted_values_survive_community_docker_env_file_reader(tmp_path_factory, mapping):
    # docker_container's env_file option reads the file with this function on the target host.
    path = tmp_path_factory.mktemp("env") / "gen.env"
    path.write_text(to_dotenv(mapping), encoding="utf-8")
    assert parse_env_file(str(path)) == {key: expected_text(value) for key, value in mapping.items()}


def test_refused_trailing_whitespace_really_is_lost_by_that_reader(tmp_path):
    # Why to_dotenv refuses trailing whitespace although `docker run --env-file` keeps it.
    path = tmp_path / "raw.env"
    path.write_text("A=x \nB=y\t\n", encoding="utf-8")
    assert parse_env_file(str(path)) == {"A": "x", "B": "y"}
