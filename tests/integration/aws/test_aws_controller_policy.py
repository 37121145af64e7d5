"""The controller's IAM policy (playbooks/controller-policy.yml renders it from the inventory) allows exactly
what the playbooks call. Every AWS API call of a run through each path of provision.yml, lookup,
render-user-data.yml, teardown.yml and the AWS steps of backup.yml and restore.yml is recorded through
botocore (tests/integration/aws/recorder/sitecustomize.py, on PYTHONPATH for these runs only) against the
emulator.
Each call must be allowed by the policy, and each action in the policy must have been called, or be
implied by a call that was (IMPLIED, each with the call that needs it).

The paths: a first provision adopts a stopped instance launched without the instance profile (starts it,
associates the profile) and reads the console to pin the host key (a fake sshd presents none, so that
run is refused at the end, after every AWS call); the lookup; the user data; a teardown that keeps the
volume and the address; a provision that reattaches the volume to a new instance and narrows the app
port's sources; the backup and restore steps; a teardown that deletes everything."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_helpers import HERE, aws_client, instances, moto_server, provision_vars, run_playbook
from support.hostkit import ROOT as REPO
from support.hostkit import ssh_greeter

pytestmark = pytest.mark.slow

ENVIRONMENT = "policy-test"
IDENTITY = {"Name": "webapp", "Project": "webapp", "Environment": ENVIRONMENT, "ManagedBy": "ansible"}
PLAYBOOKS = REPO / "playbooks"

# IAM action names where S3's differ from its API operation names.
S3_ACTIONS = {
    "HeadBucket": "ListBucket",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListBuckets": "ListAllMyBuckets",
    "HeadObject": "GetObject",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
    "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
    "ListBucketInventoryConfigurations": "GetInventoryConfiguration",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
}
# Calls that need no permission, or whose denial the module handles by going on without the answer.
NOT_NEEDED = {
    "sts:GetCallerIdentity": "needs no permission",
    "iam:ListAccountAliases": "aws_caller_info reads the account alias when allowed, else goes on without it",
}
# Permissions checked by AWS on a call besides its own action: {permission: (calls that need it, why)}.
IMPLIED = {
    "iam:PassRole": (
        {"ec2:RunInstances", "ec2:AssociateIamInstanceProfile", "iam:AddRoleToInstanceProfile"},
        "an instance (and an instance profile) is given the instance role",
    ),
    "iam:TagRole": ({"iam:CreateRole"}, "the role is created with its tags"),
    "iam:TagInstanceProfile": ({"iam:CreateInstanceProfile"}, "the profile is created with its tags"),
    "sns:TagResource": ({"sns:CreateTopic"}, "the topic is created with its tags"),
    "ssm:AddTagsToResource": ({"ssm:PutParameter"}, "the parameter is created with its tags"),
    "iam:CreateServiceLinkedRole": (
        {"cloudwatch:PutMetricAlarm"},
        "CloudWatch creates its service-linked role on the first alarm with an EC2 action",
    ),
}


def iam_action(service: str, operation: str) -> str:
    """The IAM action botocore's service and operation name stand for."""
    if service == "s3":
        return f"s3:{S3_ACTIONS.get(operation, operation)}"
    return f"{service}:{operation}"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What every emulated instance prints on its console: cloud-init's host key block, with a key of
    a throwaway pair (no sshd of the scenario presents it)."""
    directory = tmp_path_factory.mktemp("console")
    key = directory / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text()
    block = f"-----BEGIN SSH HOST KEY KEYS-----\n{public}-----END SSH HOST KEY KEYS-----\n"
    (directory / "default").write_text("cloud-init: ...\n" + block)
    return directory


@pytest.fixture(scope="module")
def endpoint(console: Path) -> Iterator[str]:
    """An emulator of the module's own, its instances printing the console above."""
    with moto_server(console_dir=console) as url:
        yield url


@pytest.fixture(scope="module")
def greeter() -> Iterator[int]:
    """A loopback port that greets like OpenSSH and presents no host key (ssh-keyscan finds none)."""
    with ssh_greeter() as port:
        yield port


def adoptable_instance(endpoint: str) -> str:
    """An instance carrying the identity, launched without the instance profile (as before this role
    had one), with its data volume at /dev/sdf."""
    ec2 = aws_client("ec2", endpoint)
    (image, *_) = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-2023.*"]}]
    )["Images"]
    tags = [{"Key": k, "Value": v} for k, v in IDENTITY.items()]
    (instance,) = ec2.run_instances(
        ImageId=image["ImageId"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.small",
        BlockDeviceMappings=[
            {"DeviceName": image["RootDeviceName"], "Ebs": {"VolumeSize": 8}},
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1, "DeleteOnTermination": False}},
        ],
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"]
    return instance["InstanceId"]


@pytest.fixture(scope="module")
def recorded(endpoint: str, ssh_key: Path, inventory: Path, workdir: Path, greeter: int) -> dict[str, object]:
    """Every path run once, recording; the set of IAM actions called, and the runs' outputs."""
    log = workdir / "calls.log"
    env = {"PYTHONPATH": str(HERE / "recorder"), "AWS_CALL_LOG": str(log)}
    settings = {
        "app_env": {"SECRET_KEY": "policy-test-secret"},
        "ec2_instance_alarm_email": "ops@example.com",
    }
    base = provision_vars(endpoint, ssh_key, ENVIRONMENT, **settings)
    runs = {}

    def play(name: str, playbook: Path, variables: dict[str, object], succeeds: bool = True) -> None:
        run = run_playbook(playbook, inventory, workdir, variables, env=env)
        assert (run.rc == 0) == succeeds, f"{name}:\n{run.output[-4000:]}"
        runs[name] = " ".join(run.output.split())

    ec2 = aws_client("ec2", endpoint)
    ec2.stop_instances(InstanceIds=[adoptable_instance(endpoint)])
    pin = {
        **base,
        "ec2_instance_connect_host": "127.0.0.1",
        "ec2_instance_connect_port": greeter,
        "ec2_instance_wait_for_ssh": True,
        "ec2_instance_wait_for_ssh_timeout": 30,
    }
    play("adopt-and-pin", PLAYBOOKS / "provision.yml", pin, succeeds=False)
    assert "does not present the keys instance" in runs["adopt-and-pin"], runs["adopt-and-pin"][-3000:]
    dump = workdir / "dump.json"
    play("lookup", HERE / "playbooks" / "lookup-and-dump.yml", {**base, "dump_path": str(dump)})
    play(
        "user-data",
        PLAYBOOKS / "render-user-data.yml",
        {**base, "ec2_instance_user_data_dest": str(workdir / "user-data.sh")},
    )
    play("teardown-keep", PLAYBOOKS / "teardown.yml", {**base, "confirm_teardown": "yes"})
    play("reattach", PLAYBOOKS / "provision.yml", {**base, "ec2_instance_app_cidrs": ["198.51.100.0/25"]})
    (instance,) = [i for i in instances(ec2, **IDENTITY) if i["State"]["Name"] == "running"]
    (data,) = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf"]
    steps = {
        "work_dir": str(workdir),
        "backup_s3_bucket": json.loads(dump.read_text())["provisioned"]["backup_bucket"],
        "backup_snapshot_volume_id": data,
        "backup_restore_instance_id": instance["InstanceId"],
        "backup_aws_endpoint_url": endpoint,
        "backup_aws_region": "us-east-1",
    }
    play("backup-steps", HERE / "playbooks" / "backup-aws-steps.yml", steps)
    everything = {
        **base,
        "confirm_teardown": "yes",
        "ec2_teardown_release_eip": True,
        "ec2_teardown_delete_data_volume": True,
        "ec2_teardown_delete_parameters": True,
    }
    play("teardown-all", PLAYBOOKS / "teardown.yml", everything)
    calls = {iam_action(*line.split()) for line in log.read_text().splitlines()}
    return {"calls": calls, "runs": runs}


@pytest.fixture(scope="module")
def policy(inventory: Path, workdir: Path, endpoint: str, ssh_key: Path) -> dict:
    """The policy playbooks/controller-policy.yml renders for the same variables."""
    dest = workdir / "controller-policy.json"
    variables = {
        **provision_vars(endpoint, ssh_key, ENVIRONMENT),
        "ec2_instance_controller_policy_dest": str(dest),
    }
    run = run_playbook(PLAYBOOKS / "controller-policy.yml", inventory, workdir, variables)
    assert run.rc == 0, run.output[-3000:]
    return json.loads(dest.read_text())


def allowed(policy: dict) -> set[str]:
    actions = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


def test_every_path_ran(recorded):
    paths = {
        "ec2:AssociateIamInstanceProfile",
        "ec2:StartInstances",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:AttachVolume",
        "ec2:GetConsoleOutput",
        "s3:PutObject",
        "ec2:CreateSnapshot",
        "ssm:DeleteParameter",
    }
    assert paths <= recorded["calls"]


def test_every_call_the_playbooks_make_is_allowed(recorded, policy):
    missing = sorted(recorded["calls"] - allowed(policy) - set(NOT_NEEDED))
    assert not missing, f"called but not in the controller policy: {missing}"


def test_the_policy_holds_nothing_unused(recorded, policy):
    calls = recorded["calls"]
    implied = {action for action, (needed_by, _) in IMPLIED.items() if needed_by & calls}
    unused = sorted(allowed(policy) - calls - implied)
    assert not unused, f"in the controller policy but never called: {unused}"
    assert not set(NOT_NEEDED) & allowed(policy)


def test_the_policy_has_no_wildcard_action(policy):
    assert not [action for action in allowed(policy) if "*" in action]
