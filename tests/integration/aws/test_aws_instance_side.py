"""What provision.yml makes for the instance to keep itself safe without a controller, against the emulator:
the IAM role and instance profile and their least-privilege policy, the app's settings in SSM, the backup
bucket with every setting, the alarm topic with its e-mail subscription, the five alarms on exactly the
metrics the host side publishes; a second run changes nothing; teardown removes role, profile, topic and
alarms, keeps the bucket and (unless asked) the settings. One lifecycle, environment tag "instance-side".

moto stores the policies and alarm definitions but evaluates neither IAM conditions nor alarms: the tests
check the documents and definitions (the request's shape), not AWS's decisions on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_helpers import aws_client, provision_and_dump, provision_vars, run_playbook
from support.hostkit import ROOT as REPO

pytestmark = pytest.mark.slow

ENVIRONMENT = "instance-side"
ACCOUNT = "123456789012"
ROLE = f"webapp-{ENVIRONMENT}-instance"
BUCKET = f"webapp-{ENVIRONMENT}-backups-{ACCOUNT}"
PREFIX = f"webapp/{ENVIRONMENT}/"
PARAMETER = f"/webapp/{ENVIRONMENT}/app.env"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:webapp-{ENVIRONMENT}-alarms"
NAMESPACE = f"webapp/{ENVIRONMENT}"
HOST = {"Name": "Host", "Value": f"webapp-{ENVIRONMENT}"}
SECRET = "instance-side-s3cr3t"
ALARMS = [
    f"webapp-{ENVIRONMENT}-{key}"
    for key in ("system-status", "instance-status", "app-health", "data-disk", "backup-age")
]


@pytest.fixture(scope="module")
def variables(moto_endpoint: str, ssh_key: Path) -> dict[str, object]:
    return provision_vars(
        moto_endpoint,
        ssh_key,
        ENVIRONMENT,
        app_env={"SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING"},
        ec2_instance_alarm_email="ops@example.com",
    )


@pytest.fixture(scope="module")
def first_run(variables: dict, inventory: Path, workdir: Path) -> dict:
    run, dump = provision_and_dump(inventory, workdir, variables, "provisioned")
    assert SECRET not in run.output
    return dump


@pytest.fixture(scope="module")
def facts(first_run: dict) -> dict:
    return first_run["provisioned"]


@pytest.fixture(scope="module")
def iam(moto_endpoint: str):
    return aws_client("iam", moto_endpoint)


@pytest.fixture(scope="module")
def policy(first_run: dict, iam) -> dict:
    return iam.get_role_policy(RoleName=ROLE, PolicyName="instance")["PolicyDocument"]


def statement(policy: dict, sid: str) -> dict:
    (found,) = [s for s in policy["Statement"] if s["Sid"] == sid]
    return found


def alarms(moto_endpoint: str) -> dict[str, dict]:
    found = aws_client("cloudwatch", moto_endpoint).describe_alarms(AlarmNamePrefix=f"webapp-{ENVIRONMENT}-")
    return {alarm["AlarmName"]: alarm for alarm in found["MetricAlarms"]}


# --- identity -----------------------------------------------------------------------------------------


def test_the_instance_profile_holds_the_role_only_ec2_may_assume(first_run, iam, ec2, facts):
    profile = iam.get_instance_profile(InstanceProfileName=ROLE)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [ROLE]
    trust = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["instance"]
    (reservation,) = ec2.describe_instances(InstanceIds=[facts["instance_id"]])["Reservations"]
    assert reservation["Instances"][0]["IamInstanceProfile"]["Arn"].endswith(f":instance-profile/{ROLE}")
    assert facts["instance_role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"


def test_the_policy_has_no_wildcard_action_and_says_where_it_needs_a_wildcard_resource(policy):
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    assert not [a for a in actions if "*" in a]
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    wildcard = sorted(s["Sid"] for s in policy["Statement"] if "*" in s["Resource"])
    assert wildcard == [
        "ListSnapshotsNoResourceLevelPermission",
        "MetricsInOwnNamespaceNoResourceLevelPermission",
    ]


def test_backups_put_and_get_only_under_the_prefix(policy):
    objects = statement(policy, "BackupObjectsUnderThePrefix")
    assert objects["Action"] == ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
    assert objects["Resource"] == [f"arn:aws:s3:::{BUCKET}/{PREFIX}*"]
    listing = statement(policy, "ListOnlyThePrefix")
    assert listing["Resource"] == [f"arn:aws:s3:::{BUCKET}"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{PREFIX}*"]}}


def test_parameters_read_only_on_the_path_and_decrypted_through_ssm_only(policy):
    path = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/webapp/{ENVIRONMENT}"
    read = statement(policy, "ReadOwnParameters")
    assert read["Action"] == ["ssm:GetParameter", "ssm:GetParametersByPath"]
    assert read["Resource"] == [path, f"{path}/*"]
    decrypt = statement(policy, "DecryptOwnParametersThroughSsmOnly")
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert decrypt["Resource"] == [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": f"{path}/*"},
    }


def test_metrics_only_in_the_namespace(policy):
    metrics = statement(policy, "MetricsInOwnNamespaceNoResourceLevelPermission")
    assert metrics["Action"] == ["cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}


def test_snapshots_only_of_its_own_data_volume_and_only_its_own_deleted(policy):
    own = {"aws:ResourceTag/Project": "webapp", "aws:ResourceTag/Environment": ENVIRONMENT}
    volume = statement(policy, "SnapshotOwnDataVolume")
    assert volume["Action"] == ["ec2:CreateSnapshot"]
    assert volume["Resource"] == [f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/*"]
    assert volume["Condition"] == {"StringEquals": {**own, "aws:ResourceTag/VolumeRole": "data"}}
    created = statement(policy, "NewSnapshotsCarryOwnTags")
    assert created["Resource"] == ["arn:aws:ec2:us-east-1::snapshot/*"]
    assert created["Condition"] == {
        "StringEquals": {"aws:RequestTag/Project": "webapp", "aws:RequestTag/Environment": ENVIRONMENT}
    }
    assert statement(policy, "TagSnapshotsOnlyWhenCreated")["Condition"] == {
        "StringEquals": {"ec2:CreateAction": "CreateSnapshot"}
    }
    assert statement(policy, "DeleteOwnSnapshots")["Condition"] == {"StringEquals": own}


def test_alerts_only_to_the_alarm_topic(policy):
    alert = statement(policy, "AlertOnTheAlarmTopic")
    assert (alert["Action"], alert["Resource"]) == (["sns:Publish"], [TOPIC])


def test_the_data_volume_carries_the_tags_the_snapshot_condition_reads(facts, ec2):
    (volume,) = ec2.describe_volumes(VolumeIds=[facts["data_volume_id"]])["Volumes"]
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert (tags["Project"], tags["Environment"], tags["VolumeRole"]) == ("webapp", ENVIRONMENT, "data")


# --- settings -------------------------------------------------------------------------------------------


def test_the_settings_are_one_securestring_under_the_project_path(first_run, moto_endpoint, facts):
    ssm = aws_client("ssm", moto_endpoint)
    (found,) = ssm.get_parameters_by_path(Path=f"/webapp/{ENVIRONMENT}", Recursive=True)["Parameters"]
    assert (found["Name"], found["Type"]) == (PARAMETER, "SecureString")
    value = ssm.get_parameter(Name=PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    assert f"SECRET_KEY={SECRET}\n" in value and "LOG_LEVEL=WARNING\n" in value
    assert facts["parameter_name"] == PARAMETER


# --- bucket -------------------------------------------------------------------------------------------


def test_the_bucket_is_created_private_encrypted_tls_only_and_versioned(first_run, moto_endpoint, facts):
    s3 = aws_client("s3", moto_endpoint)
    assert facts["backup_bucket"] == BUCKET and facts["backup_prefix"] == PREFIX
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    (deny,) = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert deny == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags["ManagedBy"] == "ansible"


def test_the_bucket_expires_backups_and_their_noncurrent_versions(first_run, moto_endpoint):
    (rule,) = aws_client("s3", moto_endpoint).get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Filter"] == {"Prefix": PREFIX}
    assert rule["Expiration"] == {"Days": 35}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


# --- topic and alarms -------------------------------------------------------------------------------------


def test_one_topic_with_the_inventorys_email(first_run, moto_endpoint, facts):
    sns = aws_client("sns", moto_endpoint)
    assert facts["alarm_topic_arn"] == TOPIC
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=TOPIC)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"] if ENVIRONMENT in t["TopicArn"]]
    assert topics == [TOPIC]


def test_five_alarms_notify_the_topic(first_run, moto_endpoint, facts):
    found = alarms(moto_endpoint)
    assert sorted(found) == sorted(ALARMS) == sorted(facts["alarm_names"])
    for alarm in found.values():
        assert TOPIC in alarm["AlarmActions"] and alarm["OKActions"] == [TOPIC]
        assert alarm["ActionsEnabled"] is True


def test_ec2_recovers_on_a_system_check_failure_and_reboots_on_an_instance_check_failure(
    first_run, moto_endpoint, facts
):
    found = alarms(moto_endpoint)
    instance = [{"Name": "InstanceId", "Value": facts["instance_id"]}]
    for key, metric, action in (
        ("system-status", "StatusCheckFailed_System", "recover"),
        ("instance-status", "StatusCheckFailed_Instance", "reboot"),
    ):
        alarm = found[f"webapp-{ENVIRONMENT}-{key}"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == ("AWS/EC2", metric, instance)
        assert alarm["AlarmActions"] == [f"arn:aws:automate:us-east-1:ec2:{action}", TOPIC]
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Maximum",
            "GreaterThanOrEqualToThreshold",
            1.0,
        )
        assert alarm["Period"] == 60


def test_the_host_metric_alarms_read_exactly_the_published_names_namespace_and_dimensions(
    first_run, moto_endpoint, facts
):
    assert facts["metric_namespace"] == NAMESPACE
    assert facts["metric_dimensions"] == {"Host": f"webapp-{ENVIRONMENT}"}
    names = facts["metric_names"]
    assert names == {
        "health": "AppHealthy",
        "disk_used": "DataVolumeUsedPercent",
        "backup_age": "OffsiteBackupAgeSeconds",
        "backup_failures": "BackupFailures",
    }
    found = alarms(moto_endpoint)
    expected = {
        "app-health": (names["health"], "Minimum", "LessThanThreshold", 1.0, 60, 3, "breaching"),
        "data-disk": (
            names["disk_used"],
            "Maximum",
            "GreaterThanOrEqualToThreshold",
            80.0,
            300,
            1,
            "missing",
        ),
        "backup-age": (
            names["backup_age"],
            "Maximum",
            "GreaterThanThreshold",
            26 * 3600.0,
            3600,
            1,
            "breaching",
        ),
    }
    for key, (metric, statistic, comparison, threshold, period, periods, missing) in expected.items():
        alarm = found[f"webapp-{ENVIRONMENT}-{key}"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == (NAMESPACE, metric, [HOST])
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            statistic,
            comparison,
            threshold,
        )
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (
            period,
            periods,
            missing,
        )
        assert alarm["AlarmActions"] == [TOPIC]


def test_a_published_metric_reaches_its_alarm(first_run, moto_endpoint):
    """What the host side will send (put-metric-data with the contract's namespace, name and dimension)
    is the series the alarm watches: moto lists the alarm for that metric."""
    cloudwatch = aws_client("cloudwatch", moto_endpoint)
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE, MetricData=[{"MetricName": "AppHealthy", "Dimensions": [HOST], "Value": 0.0}]
    )
    watching = cloudwatch.describe_alarms_for_metric(
        MetricName="AppHealthy", Namespace=NAMESPACE, Dimensions=[HOST]
    )
    assert [a["AlarmName"] for a in watching["MetricAlarms"]] == [f"webapp-{ENVIRONMENT}-app-health"]


# --- idempotence and teardown -------------------------------------------------------------------------


def test_second_run_changes_nothing(first_run, variables, inventory, workdir):
    run = run_playbook(REPO / "playbooks" / "provision.yml", inventory, workdir, variables)
    assert run.rc == 0, run.output[-4000:]
    assert run.recap["changed"] == 0, run.output[-4000:]


def test_teardown_removes_alarms_topic_role_and_profile_and_keeps_bucket_and_settings(
    first_run, variables, inventory, workdir, moto_endpoint, iam
):
    run = run_playbook(
        REPO / "playbooks" / "teardown.yml", inventory, workdir, {**variables, "confirm_teardown": "yes"}
    )
    assert run.rc == 0, run.output[-4000:]
    assert alarms(moto_endpoint) == {}
    assert TOPIC not in [t["TopicArn"] for t in aws_client("sns", moto_endpoint).list_topics()["Topics"]]
    assert ROLE not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert ROLE not in [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]
    assert BUCKET in [b["Name"] for b in aws_client("s3", moto_endpoint).list_buckets()["Buckets"]]
    ssm = aws_client("ssm", moto_endpoint)
    assert ssm.get_parameter(Name=PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    message = " ".join(run.output.split())
    assert "backup bucket kept" in message and "app settings in SSM kept" in message

    again = run_playbook(
        REPO / "playbooks" / "teardown.yml",
        inventory,
        workdir,
        {**variables, "confirm_teardown": "yes", "ec2_teardown_delete_parameters": True},
    )
    assert again.rc == 0, again.output[-4000:]
    assert again.recap["changed"] == 1  # the parameter, nothing else was left
    assert ssm.get_parameters_by_path(Path=f"/webapp/{ENVIRONMENT}")["Parameters"] == []
