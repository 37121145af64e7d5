#!/usr/bin/python
# Module of the ec2_instance role: an instance's console output (EC2 GetConsoleOutput), which no
# amazon.aws or community.aws module reads. The role takes the SSH host keys cloud-init prints there.
from __future__ import annotations

import contextlib

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

DOCUMENTATION = r"""
---
module: ec2_instance_console_output
short_description: Read an EC2 instance's console output
description:
  - Returns the console output of one instance (EC2 GetConsoleOutput), or an empty string while the
    instance has not printed any yet (AWS keeps the last 64 KB). Asks for the latest output, which
    Nitro instance types have, and falls back to the output EC2 buffered after the boot.
  - Read-only; check mode runs it as well.
options:
  instance_id:
    description: The instance.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the console
  ec2_instance_console_output:
    instance_id: i-0123456789abcdef0
    region: eu-west-1
  register: __console
"""

RETURN = r"""
output:
  description: The console output as text.
  returned: success
  type: str
"""


def read_console(client: object, instance_id: str) -> str:
    """The latest output where the instance type has it (Nitro); else what EC2 buffered after the boot.
    botocore decodes the base64 Output itself (a handler of its own for this operation)."""
    try:
        response = client.get_console_output(InstanceId=instance_id, Latest=True)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "UnsupportedOperation":
            raise
        response = client.get_console_output(InstanceId=instance_id)
    return response.get("Output") or ""


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={"instance_id": {"type": "str", "required": True}}, supports_check_mode=True
    )
    # No retry decorator: the task itself reads again until the keys are there.
    client = module.client("ec2")
    instance_id = module.params["instance_id"]
    try:
        output = read_console(client, instance_id)
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg=f"Could not read the console output of {instance_id}")
    module.exit_json(changed=False, output=output)


if __name__ == "__main__":
    main()
