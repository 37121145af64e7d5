"""The role's CIDR filters (roles/ec2_instance/filter_plugins), as plain functions."""

from __future__ import annotations

import importlib.util
import ipaddress

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st
from support.hostkit import ROOT as REPO

_SPEC = importlib.util.spec_from_file_location(
    "ec2_instance_cidrs", REPO / "roles" / "ec2_instance" / "filter_plugins" / "ec2_instance_cidrs.py"
)
assert _SPEC and _SPEC.loader
cidrs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(cidrs)

networks = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).flatmap(
    lambda ip: st.integers(0, ip.max_prefixlen).map(lambda n: ipaddress.ip_network(f"{ip}/{n}", strict=False))
)


@given(networks)
def test_every_canonical_network_is_accepted(network):
    assert cidrs.ec2_instance_cidr_problems([network.with_prefixlen]) == []


@given(networks)
def test_world_means_prefix_length_zero(network):
    assert cidrs.ec2_instance_world_cidrs([network.with_prefixlen]) == (
        [network.with_prefixlen] if network.prefixlen == 0 else []
    )


@pytest.mark.parametrize(
    ("entry", "advice"),
    [
        ("10.1.2.3/16", "write the network address 10.1.0.0/16"),
        ("2001:db8::1/64", "write the network address 2001:db8::/64"),
        ("203.0.113.7", "write 203.0.113.7/32"),
        ("2001:db8::7", "write 2001:db8::7/128"),
        ("0.0.0.0/33", "not an IPv4 or IPv6 CIDR"),
        ("office", "not an IPv4 or IPv6 CIDR"),
        (22, "of type int"),
    ],
)
def test_each_problem_says_what_to_write(entry, advice):
    (problem,) = cidrs.ec2_instance_cidr_problems([entry, "198.51.100.0/24"])
    assert advice in problem


def test_a_string_instead_of_a_list_is_refused():
    with pytest.raises(AnsibleFilterError, match="expected a list of CIDR strings"):
        cidrs.ec2_instance_cidr_problems("203.0.113.7/32")
