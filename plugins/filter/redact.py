# Filter plugin: redact
# Replace every occurrence of known secret values in a string or nested structure, so that
# anything printed (debug output, logs, failure messages) cannot carry them.
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

# Ansible loads plugin files by path, outside any package: this makes plugins/ importable so that
# the filters and the callback share plugins/plugin_utils, as a collection's plugins do.
if (_PROJECT := str(Path(__file__).resolve().parents[2])) not in sys.path:
    sys.path.append(_PROJECT)

from plugins.plugin_utils.redaction import (
    DEFAULT_REPLACEMENT,
    RedactionError,
    Redactor,
    flatten_secrets,
)

DOCUMENTATION = r"""
name: redact
short_description: Replace known secret values wherever they occur in a string or nested data
description:
  - Walks O(_input) (a string, or dicts, lists and tuples nested to any depth) and replaces every
    occurrence of every secret by O(replacement). The structure is kept (dicts stay dicts, lists stay lists).
  - Occurrences that overlap or touch (for example secrets V(abcd) and V(cdef) in V(abcdef)) are
    merged into one span, and the whole span becomes one O(replacement).
  - No secret survives. If O(replacement) itself contains a secret (for example a secret V(RED) and the
    default V([REDACTED])), V([REDACTED]) is used instead, or if that contains a secret too, eight times
    the first of V(*#?X~%) (then V(U+2580) onwards) that appears in no secret.
    If a replacement next to the remaining text forms a secret again, the span grows until the
    output contains no secret at all.
  - A secret containing line breaks also matches with its lines joined by V(\\n), V(\\r\\n), V(\\r)
    and by the escaped two-character forms V(\\\\n) and V(\\\\r\\\\n) (as in JSON output). Each of its
    lines of 16 characters or more is also a secret on its own, so a PEM key printed line by line is
    still redacted. Shorter lines (V(-----), V(})) are too common to be treated as secrets.
  - A secret is also found in the forms printing gives it. JSON-escaped (V(\\") for V(")), URL-quoted
    (V(%40) or V(+)), inside a Python repr, and base64-encoded, standard or URL-safe, alone or at any
    offset inside a longer encoded text (for base64 fragments of 8 characters or more, that is
    secrets of about 7 bytes or more).
  - The same implementation (plugins/plugin_utils/redaction.py) serves the C(hide_secrets) filter and
    the C(redacted) stdout callback.
  - Dict keys are redacted like values (a key is printed too). Two keys of one dict that become equal
    after redaction are an error, because merging them would lose data.
  - Other scalars (numbers, booleans, None, dates) are compared in their printed form, C(str(value)).
    They are returned unchanged unless that form contains a secret, in which case the redacted
    string is returned in their place.
  - Text that contains no secret is returned unchanged (the very same object).
positional: secrets, replacement
options:
  _input:
    description: The data to redact.
    type: raw
    required: true
  secrets:
    description:
      - The secret values. A list, or a dict whose values are the secrets (dict keys are not secrets),
        or a single string. Lists and dicts may be nested (a whole vault dict can be passed).
      - Strings are used as they are; integers and floats by their decimal form, C(str(value)).
      - V(None), empty strings and booleans are ignored, so an unset secret does not redact everything.
    type: raw
    required: true
  replacement:
    description: The text that takes the place of each redacted span. Must be a non-empty string.
    type: str
    default: "[REDACTED]"
"""

EXAMPLES = r"""
- name: Show the command output without the database password
  ansible.builtin.debug:
    msg: "{{ __app_migrate.stdout | redact([app_db_password]) }}"

- name: Show the rendered settings with every vault value hidden
  ansible.builtin.debug:
    msg: "{{ __app_settings | redact(vault_app_secrets, replacement='***') }}"
"""

RETURN = r"""
_value:
  description: A copy of the input with every secret replaced; unchanged text is returned as is.
  type: raw
"""


def redact(data: Any, secrets: Any, replacement: str = DEFAULT_REPLACEMENT) -> Any:
    """Return a copy of data in which no secret occurs."""
    try:
        return Redactor(flatten_secrets(secrets), replacement).data(data)
    except RedactionError as error:
        raise AnsibleFilterError(f"redact: {error}") from None


class FilterModule:
    def filters(self) -> dict:
        return {"redact": redact}
