"""moto's server, made to answer three things as AWS does. Run as: python moto_like_aws.py -H HOST -p PORT.

- SnapshotId is "" on a volume not made from a snapshot (moto leaves the field out, and
  amazon.aws.ec2_vol_info then fails with KeyError 'snapshot_id', which the role's search for a kept data
  volume would hit).
- GetConsoleOutput returns what cloud-init would print, when the test says what that is: the file
  $MOTO_CONSOLE_DIR/<instance id>, else $MOTO_CONSOLE_DIR/default (moto always returns a canned kernel log
  without the SSH host keys the role pins).
- A bucket policy statement that denies requests without TLS (condition aws:SecureTransport false) does
  not apply: clients of AWS use TLS, which the tests' plain-HTTP emulator stands for. moto reads no value
  for the condition's key and then denies every object request, whatever the statement's effect."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.models import elastic_block_store
from moto.ec2.responses import general
from moto.ec2.utils import Base64EncodedString
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.models import FakeBucket
from moto.server import main

_volume_init = elastic_block_store.Volume.__init__


def _init_like_aws(self: elastic_block_store.Volume, *args: object, **kwargs: object) -> None:
    _volume_init(self, *args, **kwargs)
    if self.snapshot_id is None:
        self.snapshot_id = ""


def _console_text(instance_id: str) -> str:
    directory = os.environ.get("MOTO_CONSOLE_DIR")
    if directory:
        for name in (instance_id, "default"):
            path = Path(directory) / name
            if path.is_file():
                return path.read_text()
    return general.SAMPLE_CONSOLE_OUTPUT


def _console_output(self: general.General) -> ActionResult:
    instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
    return ActionResult(
        {
            "InstanceId": instance.id,
            "Timestamp": utcnow(),
            "Output": Base64EncodedString.from_raw_string(_console_text(instance.id)),
        }
    )


_INSECURE_TRANSPORT = {"Bool": {"aws:SecureTransport": "false"}}


def _permission_over_tls(self: FakeBucket, action: str, resource: str) -> PermissionResult:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy)
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    document["Statement"] = [s for s in statements if s.get("Condition") != _INSECURE_TRANSPORT]
    return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)


elastic_block_store.Volume.__init__ = _init_like_aws
FakeBucket.get_permission = _permission_over_tls
general.General.get_console_output = _console_output

if __name__ == "__main__":
    sys.exit(main())
