#!/usr/bin/python
# Module of the ec2_instance role: an instance's console output (EC2 GetConsoleOutput), which no
# amazon.aws or community.aws module reads. The role takes the SSH host keys cloud-init prints there.
from __future__ import annotations

import contextlib

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

DOCUMENTATION = r"""
---
module: ec2_instance_console_output
short_description: Read an EC2 instance's console output
description:
  - Returns the decoded console output of one instance (EC2 GetConsoleOutput), or an empty string while
    the instance has not printed any yet (AWS keeps the last 64 KB, available a few minutes after boot).
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


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={"instance_id": {"type": "str", "required": True}}, supports_check_mode=True
    )
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        response = client.get_console_output(InstanceId=module.params["instance_id"], aws_retry=True)
    except (BotoCoreError, ClientError) as error:
        instance_id = module.params["instance_id"]
        module.fail_json_aws(error, msg=f"Could not read the console output of {instance_id}")
    # botocore decodes the base64 Output itself (a handler of its own for this operation).
    module.exit_json(changed=False, output=response.get("Output") or "")


if __name__ == "__main__":
    main()
