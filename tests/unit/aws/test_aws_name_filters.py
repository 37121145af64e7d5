"""The preflight's checks of the instance's AWS names (the role's filter_plugins/ec2_instance_names.py):
S3 bucket names, the alarm e-mail address, the SSM parameter path."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from role_filters import load

names = load("ec2_instance_names")

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(st.lists(LABEL, min_size=1, max_size=4).map("-".join).filter(lambda n: 3 <= len(n) <= 63))
def test_hyphenated_lowercase_names_are_accepted(name):
    reserved = name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(("-s3alias", "--ol-s3"))
    assert (names.ec2_instance_bucket_name_problems(name) == []) != reserved


@given(st.text(min_size=1, max_size=70))
def test_every_refusal_is_a_sentence_and_acceptance_means_the_rules_hold(name):
    problems = names.ec2_instance_bucket_name_problems(name)
    assert all(isinstance(p, str) and p for p in problems)
    if not problems:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name)


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("ab", "has 2 characters"),
        ("a" * 64, "has 64 characters"),
        ("Webapp_Backups", "(write 'webapp-backups')"),
        ("backups.example.com", "has a dot"),
        ("-backups", "must start and end with a lowercase letter or a digit"),
        ("192.168.5.4", "formatted as an IP address"),
        ("xn--backups", "starts with 'xn--'"),
        ("backups-s3alias", "ends with '-s3alias'"),
    ],
)
def test_each_bucket_rule_is_named(name, phrase):
    assert any(phrase in p for p in names.ec2_instance_bucket_name_problems(name))


@pytest.mark.parametrize("address", ["ops@example.com", "first.last+alarms@mail.example.co.uk", "o@x.io"])
def test_one_plain_address_is_accepted(address):
    assert names.ec2_instance_email_problems(address) == []


@pytest.mark.parametrize(
    "address",
    [
        "ops@example.com, dev@example.com",
        "Ops <ops@example.com>",
        "ops@localhost",
        "ops.example.com",
        "ops@@example.com",
        "ops@example..com",
        "ops@-example.com",
        " ops@example.com",
        "",
        "o" * 250 + "@example.com",
    ],
)
def test_anything_but_one_address_is_refused(address):
    (problem,) = names.ec2_instance_email_problems(address)
    assert "is not one e-mail address" in problem


def test_a_list_of_addresses_is_refused_by_type():
    assert names.ec2_instance_email_problems(["ops@example.com"]) == [
        "the alarm e-mail must be a string, got list"
    ]


@pytest.mark.parametrize(
    "path", ["/webapp/production/", "/webapp/production/app/", "/webapp/production/a.b_c-d/"]
)
def test_paths_under_the_project_are_accepted(path):
    assert names.ec2_instance_parameter_path_problems(path, "webapp", "production") == []


@pytest.mark.parametrize(
    ("path", "phrase"),
    [
        ("/billing/production/", "outside this project's '/webapp/production/'"),
        ("/webapp/", "outside this project's"),
        ("/webapp/staging/", "outside this project's"),
        ("/webapp/productionx/", "outside this project's"),
        ("webapp/production/", "outside this project's"),
        ("/webapp/production", "must end with '/'"),
        ("/webapp/production//", "no empty level"),
        ("/webapp/production/a b/", "may hold only letters"),
        ("/webapp/production/" + "a/" * 14, "deeper than SSM's 15 levels"),
    ],
)
def test_paths_elsewhere_or_malformed_are_refused_with_the_reason(path, phrase):
    problems = names.ec2_instance_parameter_path_problems(path, "webapp", "production")
    assert any(phrase in p for p in problems), problems


def test_reserved_prefixes_are_refused():
    assert any("reserves" in p for p in names.ec2_instance_parameter_path_problems("/aws/x/", "aws", "x"))
