"""Put on PYTHONPATH by tests/integration/aws/test_aws_controller_policy.py only: every botocore session
started in a Python process (ansible-playbook and each module it runs) appends the service and operation
of each API call it makes to the file named by AWS_CALL_LOG, one "service Operation" line per call."""

from __future__ import annotations

import os

_LOG = os.environ.get("AWS_CALL_LOG")

if _LOG:
    import botocore.handlers

    def _record(model: object, **_: object) -> None:
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{model.service_model.service_name} {model.name}\n")  # type: ignore[attr-defined]

    # Handlers in this list are registered on every new botocore session.
    botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _record))
