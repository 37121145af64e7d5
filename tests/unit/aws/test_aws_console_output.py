"""The role's console module asks EC2 for the latest console output, which only Nitro instance types have,
and falls back to the output buffered after the boot where EC2 answers UnsupportedOperation. moto accepts
Latest on every instance, so the fallback's requests are checked here by their shape (botocore's Stubber:
the exact parameters of each call, in order); the module's use against moto runs in
test_aws_controller_policy.py and test_aws_instance_host.py."""

from __future__ import annotations

import base64
import importlib.util

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from support.aws import REGION
from support.hostkit import ROOT as REPO

_SPEC = importlib.util.spec_from_file_location(
    "ec2_instance_console_output",
    REPO / "roles" / "ec2_instance" / "library" / "ec2_instance_console_output.py",
)
assert _SPEC and _SPEC.loader
console = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(console)

TEXT = "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAA root@x\n-----END SSH HOST KEY KEYS-----\n"
ANSWER = {"InstanceId": "i-0123456789abcdef0", "Output": base64.b64encode(TEXT.encode()).decode()}


@pytest.fixture
def ec2():
    client = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_the_latest_output_is_asked_for_first(ec2):
    client, stubber = ec2
    stubber.add_response("get_console_output", ANSWER, {"InstanceId": "i-0123456789abcdef0", "Latest": True})
    assert console.read_console(client, "i-0123456789abcdef0") == TEXT


def test_an_instance_type_without_it_gets_the_buffered_output(ec2):
    client, stubber = ec2
    stubber.add_client_error(
        "get_console_output",
        service_error_code="UnsupportedOperation",
        expected_params={"InstanceId": "i-0123456789abcdef0", "Latest": True},
    )
    stubber.add_response("get_console_output", ANSWER, {"InstanceId": "i-0123456789abcdef0"})
    assert console.read_console(client, "i-0123456789abcdef0") == TEXT


def test_no_output_yet_is_empty_text(ec2):
    client, stubber = ec2
    stubber.add_response("get_console_output", {"InstanceId": "i-0123456789abcdef0"})
    assert console.read_console(client, "i-0123456789abcdef0") == ""


def test_other_errors_are_not_swallowed(ec2):
    client, stubber = ec2
    stubber.add_client_error("get_console_output", service_error_code="InvalidInstanceID.NotFound")
    with pytest.raises(ClientError, match=r"InvalidInstanceID\.NotFound"):
        console.read_console(client, "i-0123456789abcdef0")
