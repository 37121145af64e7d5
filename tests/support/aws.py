"""The AWS the tests see: moto's region, its dummy credentials, the environment that carries them,
and boto3 clients on an emulator endpoint."""

from __future__ import annotations

import json
import time

import boto3

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def aws_env(endpoint: str | None = None) -> dict[str, str]:
    """The dummy credentials and the region; with `endpoint`, also AWS_REGION and AWS_ENDPOINT_URL (for
    tools that read the endpoint from the environment: the AWS CLI, boto3, the backup role)."""
    env = {**CREDENTIALS, "AWS_DEFAULT_REGION": REGION}
    if endpoint:
        env |= {"AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint}
    return env


def aws_client(service: str, endpoint: str):  # boto3 clients have no importable type
    """A boto3 client on the emulator, with the same credentials the playbooks get."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def datapoints(
    cloudwatch, namespace: str, name: str, dimensions: dict[str, str], period: int = 3600
) -> list[dict]:
    """The datapoints (minimum, maximum, sample count) of one metric within the hour around now."""
    return cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=time.time() - 3600,
        EndTime=time.time() + 3600,
        Period=period,
        Statistics=["Minimum", "Maximum", "SampleCount"],
    )["Datapoints"]


def deny_uploads(s3, bucket: str) -> None:
    """A bucket policy on `bucket` that refuses every upload (PutObject), for the tests of a failing one."""
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
