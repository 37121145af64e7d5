# Filter plugin: hide_secrets
# The one call for anything about to be shown: known secret values redacted (redact), then the values
# of secret-looking keys and URL passwords masked (mask_secrets). Every call site chained the two.
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

# Ansible loads plugin files by path, outside any package: this makes plugins/ importable so that
# the filters and the callback share plugins/plugin_utils, as a collection's plugins do.
if (_PROJECT := str(Path(__file__).resolve().parents[2])) not in sys.path:
    sys.path.append(_PROJECT)

from plugins.plugin_utils.masking import DEFAULT_MASK, mask_secrets
from plugins.plugin_utils.redaction import (
    DEFAULT_REPLACEMENT,
    RedactionError,
    Redactor,
    flatten_secrets,
)
from plugins.plugin_utils.secret_rule import SECRET_WORDS

DOCUMENTATION = r"""
name: hide_secrets
short_description: Redact known secret values, then mask secret-looking keys and URL passwords
description:
  - One call for C(_input | redact(secrets, replacement) | mask_secrets(patterns, mask)), the chain
    used wherever text or data about to be shown may hold a secret (a failing container's log, an
    error message). The C(redact) and C(mask_secrets) filters keep working on their own.
  - Known values first, so a secret is gone wherever it sits (in a key, in a URL, in free text);
    then every value below a key the project's secret-name rule marks secret, and the password of
    every URL with credentials, is masked, so a secret the caller did not know by value is hidden too.
  - Errors name the filter step that refused the input and never a secret value.
positional: secrets, replacement
options:
  _input:
    description: The text or data to hide secrets in.
    type: raw
    required: true
  secrets:
    description: The known secret values, as for the C(redact) filter (a list, a dict of them, a string).
    type: raw
    required: true
  replacement:
    description: The text that takes the place of each known secret.
    type: str
    default: "[REDACTED]"
  patterns:
    description:
      - Substrings of key names that mark a secret, as for C(mask_secrets).
      - Left out, the secret words of the project's rule.
    type: list
    elements: str
  mask:
    description: The text shown instead of a masked value or URL password.
    type: str
    default: "********"
"""

EXAMPLES = r"""
- name: Keep the failing container's log lines for the report, without any secret
  ansible.builtin.set_fact:
    __app_failed_logs: "{{ __app_logs.stdout_lines | hide_secrets(app_env | secret_values) }}"
"""

RETURN = r"""
_value:
  description: A copy of the input with known secrets redacted and secret-looking values masked.
  type: raw
"""


def hide_secrets(
    data: Any,
    secrets: Any,
    replacement: str = DEFAULT_REPLACEMENT,
    patterns: list[str] | tuple[str, ...] = SECRET_WORDS,
    mask: str = DEFAULT_MASK,
) -> Any:
    """Return a copy of data with known secrets redacted and secret-looking values masked."""
    try:
        return mask_secrets(Redactor(flatten_secrets(secrets), replacement).data(data), patterns, mask)
    except RedactionError as error:
        raise AnsibleFilterError(f"hide_secrets: {error}") from None


class FilterModule:
    def filters(self) -> dict:
        return {"hide_secrets": hide_secrets}
