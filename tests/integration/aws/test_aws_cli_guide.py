"""README_DEPLOYMENT's "Launching by hand with the AWS CLI", run as written against moto's server:
its shell blocks are taken from the guide and run in order with the AWS CLI (AWS_ENDPOINT_URL aims it
at the emulator), with the test's values in place of the settings block. What they made is then
checked with boto3, the app check runs against the real app in a network namespace of its own, and
the removal block must leave nothing behind. A change to the guide is a change to what runs here."""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_helpers import HERE, REGION, run_playbook, tagged
from support.aws import aws_env as emulator_env
from support.hostkit import ROOT as REPO

GUIDE = REPO / "README_DEPLOYMENT.md"
HEADING = re.compile(r"^## (?:\d+\. )?Launching by hand with the AWS CLI$", re.M)
REMOVAL = "\n### Removing it all\n"
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.M | re.S)
ASSIGNMENT = re.compile(r"^([A-Z_]+)=", re.M)
MY_CIDR, APP_CIDR = "203.0.113.7/32", "198.51.100.0/24"


@dataclass
class Guide:
    settings: str
    launch: list[str]
    check: list[str]
    removal: list[str]


def read_guide() -> Guide:
    text = GUIDE.read_text()
    found = HEADING.search(text)
    assert found, "README_DEPLOYMENT.md has no section 'Launching by hand with the AWS CLI'"
    section = text[found.end() :]
    section = section[: section.find("\n## ")] if "\n## " in section else section
    assert REMOVAL in section, "the CLI section has no '### Removing it all'"
    main, removal = section.split(REMOVAL, 1)
    blocks = BLOCK.findall(main)
    assert len(blocks) >= 3, blocks
    # The app is checked from outside, with curl only: those blocks run where the app is.
    is_check = [all(line.startswith("curl ") for line in code_lines(block)) for block in blocks]
    return Guide(
        settings=blocks[0],
        launch=[b for b, check in zip(blocks[1:], is_check[1:], strict=True) if not check],
        check=[b for b, check in zip(blocks[1:], is_check[1:], strict=True) if check],
        removal=BLOCK.findall(removal),
    )


def code_lines(block: str) -> list[str]:
    """The commands of a block: comments and continuation lines left out."""
    lines, continued = [], False
    for line in block.splitlines():
        if not continued and line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
        continued = line.rstrip().endswith("\\")
    return lines


def settings_names(block: str) -> set[str]:
    assert all(ASSIGNMENT.match(line) for line in code_lines(block)), f"not only settings:\n{block}"
    return set(ASSIGNMENT.findall(block))


def aws_env(endpoint: str, home: Path) -> dict[str, str]:
    """Only the emulator: no profile or credentials file of this machine is read."""
    return {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **emulator_env(endpoint),
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
    }


def bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def guide() -> Guide:
    return read_guide()


def render_user_data(inventory: Path, work: Path, endpoint: str, environment: str) -> Path:
    """build/user-data.sh as playbooks/render-user-data.yml writes it; the run also stores the settings
    in SSM and creates the instance profile the guide's launch names."""
    dest = work / "build" / "user-data.sh"
    variables = {
        "ec2_instance_user_data_dest": str(dest),
        "ec2_instance_endpoint_url": endpoint,
        "ec2_instance_region": REGION,
        "ec2_instance_environment": environment,
        "app_env": {"SECRET_KEY": "cli-guide-test-secret-0123456789abcdef"},
        "app_image": "registry.example.com/webapp:1.4.2",
    }
    run = run_playbook(REPO / "playbooks" / "render-user-data.yml", inventory, work, variables)
    assert run.rc == 0, run.output[-3000:]
    return dest


@dataclass
class Launch:
    settings: dict[str, str]
    variables: dict[str, str]
    made: dict  # what describe() read after the launch blocks
    check_output: str
    removal: subprocess.CompletedProcess[str]
    ports: list[int]


@pytest.fixture(scope="module", params=["8000", "80 443"], ids=["port-8000", "domain-80-443"])
def launched(request, guide, moto_endpoint, ssh_key, inventory, ec2, tmp_path_factory) -> Launch:
    """The guide's blocks with the test's settings; the app check inside a network namespace where
    the app answers on 127.0.0.1:8000; the variables the blocks set, read back; then the removal."""
    work = tmp_path_factory.mktemp("cli-guide")
    environment = f"cli-guide-{request.param.replace(' ', '-')}"
    user_data = render_user_data(inventory, work, moto_endpoint, environment)
    settings = {
        "NAME": "webapp",
        "ENVIRONMENT": environment,
        "MY_CIDR": MY_CIDR,
        "APP_CIDR": APP_CIDR,
        "APP_PORTS": request.param,
        "PUBLIC_KEY": str(ssh_key),
        "USER_DATA": str(user_data),
    }
    assert settings_names(guide.settings) == set(settings), "the guide's settings are not the ones tested"
    set_by_guide = sorted({name for block in guide.launch for name in ASSIGNMENT.findall(block)})
    check_scripts = []
    for n, block in enumerate(guide.check):
        (work / f"check-{n}.sh").write_text(block)
        app = [sys.executable, str(HERE / "netns_app.py"), str(work)]
        command = ["unshare", "--net", *app, "bash", "-euo", "pipefail", str(work / f"check-{n}.sh")]
        check_scripts.append(f"EIP=127.0.0.1 {shlex.join(command)} >>{shlex.quote(str(work / 'check.out'))}")
    setting_lines = [
        "set -euo pipefail",
        *(f"{name}={shlex.quote(value)}" for name, value in settings.items()),
    ]
    script = "\n".join(
        [
            *setting_lines,
            *guide.launch,
            *check_scripts,
            f"declare -p {' '.join(set_by_guide)} >{shlex.quote(str(work / 'state.sh'))}",
        ]
    )
    env = aws_env(moto_endpoint, work)
    run = bash(script, env, work)
    assert run.returncode == 0, f"the guide's commands failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    variables = dict(re.findall(r'^declare -\S+ (\w+)="(.*)"$', (work / "state.sh").read_text(), re.M))
    # What the blocks made, as the AWS API reports it, before the removal block runs.
    made = describe(ec2, variables)
    removal = bash(
        "\n".join([*setting_lines, f"source {shlex.quote(str(work / 'state.sh'))}", *guide.removal]),
        env,
        work,
    )
    return Launch(
        settings=settings,
        variables=variables,
        made=made,
        check_output=(work / "check.out").read_text(),
        removal=removal,
        ports=[int(port) for port in request.param.split()],
    )


def describe(ec2, variables: dict[str, str]) -> dict[str, object]:
    (instance,) = ec2.describe_instances(InstanceIds=[variables["INSTANCE_ID"]])["Reservations"][0][
        "Instances"
    ]
    return {
        "instance": instance,
        "user_data": ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")[
            "UserData"
        ]["Value"],
        "group": ec2.describe_security_groups(GroupIds=[variables["SG_ID"]])["SecurityGroups"][0],
        "volumes": {
            v["VolumeId"]: v
            for v in ec2.describe_volumes(
                VolumeIds=[m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
            )["Volumes"]
        },
        "address": ec2.describe_addresses(AllocationIds=[variables["ALLOCATION_ID"]])["Addresses"][0],
        "latest_al2023": latest(
            ec2.describe_images(
                Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-2023.*-x86_64"]}]
            )["Images"]
        ),
    }


def latest(images: list[dict]) -> set[str]:
    """The ids of the newest images (moto gives its images one creation time: all of them, there)."""
    newest = max(image["CreationDate"] for image in images)
    return {image["ImageId"] for image in images if image["CreationDate"] == newest}


def tags(item: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in item.get("Tags", [])}


def test_settings_block_only_sets_what_the_test_replaces(guide):
    assert settings_names(guide.settings) == {
        "NAME", "ENVIRONMENT", "MY_CIDR", "APP_CIDR", "APP_PORTS", "PUBLIC_KEY", "USER_DATA",
    }  # fmt: skip
    assert guide.check and guide.removal


def test_security_group_opens_ssh_to_you_and_the_app_ports_to_its_clients(launched):
    group = launched.made["group"]
    rules = {
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], r["CidrIp"])
        for rule in group["IpPermissions"]
        for r in rule["IpRanges"]
    }
    assert rules == {("tcp", 22, 22, MY_CIDR)} | {("tcp", p, p, APP_CIDR) for p in launched.ports}
    assert group["GroupName"] == f"webapp-{launched.settings['ENVIRONMENT']}"


def test_instance_runs_al2023_with_imdsv2_the_key_and_the_group(launched):
    instance = launched.made["instance"]
    assert instance["State"]["Name"] == "running"
    assert instance["ImageId"] in launched.made["latest_al2023"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert instance["KeyName"] == f"webapp-{launched.settings['ENVIRONMENT']}"
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [launched.variables["SG_ID"]]
    assert tags(instance) == {
        "Name": "webapp",
        "Project": "webapp",
        "Environment": launched.settings["ENVIRONMENT"],
    }


def test_instance_carries_the_rendered_user_data_and_its_instance_profile(launched):
    user_data = Path(launched.settings["USER_DATA"])
    assert base64.b64decode(launched.made["user_data"]) == user_data.read_bytes()
    profile = launched.made["instance"]["IamInstanceProfile"]["Arn"]
    assert profile.endswith(f"instance-profile/webapp-{launched.settings['ENVIRONMENT']}-instance")


def test_root_and_data_volumes_are_encrypted_gp3_and_the_data_volume_is_kept(launched):
    instance, volumes = launched.made["instance"], launched.made["volumes"]
    mappings = {m["DeviceName"]: m["Ebs"] for m in instance["BlockDeviceMappings"]}
    assert set(mappings) == {instance["RootDeviceName"], "/dev/sdf"}
    data = mappings["/dev/sdf"]
    assert data["VolumeId"] == launched.variables["DATA_VOLUME_ID"]
    assert data["DeleteOnTermination"] is False
    for volume in volumes.values():
        assert (volume["VolumeType"], volume["Size"], volume["Encrypted"]) == ("gp3", 20, True)
    assert tags(volumes[data["VolumeId"]])["VolumeRole"] == "data"
    assert tags(volumes[data["VolumeId"]])["Environment"] == launched.settings["ENVIRONMENT"]


def test_elastic_ip_is_associated_and_tagged(launched):
    address = launched.made["address"]
    assert address["InstanceId"] == launched.variables["INSTANCE_ID"]
    assert address["PublicIp"] == launched.variables["EIP"]
    assert tagged([address], Environment=launched.settings["ENVIRONMENT"], Project="webapp")


def test_app_check_reaches_the_app(launched):
    assert '"status":"ok"' in launched.check_output, launched.check_output


def test_removal_leaves_nothing(launched, ec2):
    removal = launched.removal
    assert removal.returncode == 0, removal.stdout[-3000:] + removal.stderr[-3000:]
    variables = launched.variables
    (instance,) = ec2.describe_instances(InstanceIds=[variables["INSTANCE_ID"]])["Reservations"][0][
        "Instances"
    ]
    assert instance["State"]["Name"] == "terminated"
    environment = launched.settings["ENVIRONMENT"]
    assert not tagged(ec2.describe_addresses()["Addresses"], Environment=environment)
    assert not [
        g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupId"] == variables["SG_ID"]
    ]
    assert not [k for k in ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"] == f"webapp-{environment}"]
    assert not [v for v in ec2.describe_volumes()["Volumes"] if v["VolumeId"] in launched.made["volumes"]]
