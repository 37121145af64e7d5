# Filter plugin: mask_secrets
# Hide the values of secret-looking keys and the passwords inside URLs, for debug output of
# settings whose secret values are not known by name (redact needs the values, this needs none).
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

# Ansible loads plugin files by path, outside any package: this makes plugins/ importable so that
# the filters and the callback share plugins/plugin_utils, as a collection's plugins do.
if (_PROJECT := str(Path(__file__).resolve().parents[2])) not in sys.path:
    sys.path.append(_PROJECT)

from plugins.plugin_utils import masking
from plugins.plugin_utils.masking import DEFAULT_MASK
from plugins.plugin_utils.redaction import RedactionError
from plugins.plugin_utils.secret_rule import SECRET_WORDS

DOCUMENTATION = r"""
name: mask_secrets
short_description: Mask the values of secret-looking keys and the passwords in URLs
description:
  - Returns a deep copy of O(_input) (dicts, lists and tuples nested to any depth) for debug output.
  - A key is secret-looking when its name (C(str(key))) contains one of O(patterns), compared
    case-insensitively, unless its last word says it only refers to a secret (C(FILE), C(PATH),
    C(DIR), C(NAME), C(ID), C(ARN), C(PREFIX), C(PATTERN), C(REGEX)) or it holds the word C(PUBLIC).
    This is the project's secret-name rule (plugins/plugin_utils/secret_rule.py), the one the app's
    log filter applies to its environment.
  - O(mask) takes the place of every value below a secret-looking key; dicts and lists
    below it keep their shape, so you still see which keys are set.
  - V(None), empty strings and booleans are shown as they are even under a secret key, so that an
    unset secret or a flag such as C(ssh_key_checking) stays visible. They cannot hold a credential.
  - In every string, wherever it sits, the password of a URL with credentials is masked and the
    user name kept, C(scheme://user:password@host) becoming C(scheme://user:********@host).
    The password runs up to the last V(@) before the next whitespace, so a raw V(@) inside a
    password is masked too (at the price of over-masking a later V(@) in the same word).
    User-only credentials (C(https://token@host)) are not masked, as URLs read them as a user name.
  - Matching is by substring, so V(KEY) also matches C(monkey); masking too much is the safe side
    for debug output. Use the C(redact) filter when the secret values themselves are known.
positional: patterns, mask
options:
  _input:
    description: The data to mask, usually a dict of settings.
    type: raw
    required: true
  patterns:
    description:
      - Substrings of key names that mark a secret, compared case-insensitively.
      - Left out, the secret words of the project's rule (plugins/plugin_utils/secret_rule.py).
    type: list
    elements: str
  mask:
    description: The text shown instead of a masked value.
    type: str
    default: "********"
"""

EXAMPLES = r"""
- name: Show the merged settings without their secrets
  ansible.builtin.debug:
    msg: "{{ __app_settings | mask_secrets }}"

- name: Also mask values of keys containing DSN
  ansible.builtin.debug:
    msg: "{{ __app_settings | mask_secrets(['PASSWORD', 'TOKEN', 'DSN']) }}"
"""

RETURN = r"""
_value:
  description: A copy of the input with secret values and URL passwords masked.
  type: raw
"""


def mask_secrets(
    mapping: Any, patterns: list[str] | tuple[str, ...] = SECRET_WORDS, mask: str = DEFAULT_MASK
) -> Any:
    """Return a copy of mapping with secret-looking values and URL passwords masked."""
    try:
        return masking.mask_secrets(mapping, patterns, mask)
    except RedactionError as error:
        raise AnsibleFilterError(f"mask_secrets: {error}") from None


class FilterModule:
    def filters(self) -> dict:
        return {"mask_secrets": mask_secrets}
