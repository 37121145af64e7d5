# Filter plugin: mask_secrets
# Hide the values of secret-looking keys and the passwords inside URLs, for debug output of
# settings whose secret values are not known by name (redact needs the values, this needs none).
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: mask_secrets
short_description: Mask the values of secret-looking keys and the passwords in URLs
description:
  - Returns a deep copy of O(_input) (dicts, lists and tuples nested to any depth) for debug output.
  - A key is secret-looking when its name (C(str(key))) contains one of O(patterns), compared
    case-insensitively. O(mask) takes the place of every value below such a key; dicts and lists
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
    description: Substrings of key names that mark a secret, compared case-insensitively.
    type: list
    elements: str
    default: [SECRET, TOKEN, PASSWORD, PASSWD, KEY, CREDENTIAL, PRIVATE]
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

DEFAULT_PATTERNS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "PRIVATE")
DEFAULT_MASK = "********"
# scheme://user:password@ ; the password is greedy up to the last "@" before whitespace.
_URL_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<password>\S*)@")


def mask_secrets(
    mapping: Any, patterns: list[str] | tuple[str, ...] = DEFAULT_PATTERNS, mask: str = DEFAULT_MASK
) -> Any:
    """Return a copy of mapping with secret-looking values and URL passwords masked."""
    if isinstance(patterns, str) or not isinstance(patterns, list | tuple):
        raise AnsibleFilterError(
            f"mask_secrets: patterns must be a list of strings, got {type(patterns).__name__}; "
            "write it as a list, e.g. ['PASSWORD', 'TOKEN']"
        )
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            raise AnsibleFilterError(
                f"mask_secrets: patterns[{index}] must be a non-empty string, got {type(pattern).__name__}; "
                "remove it or write the key fragment as text"
            )
    if not isinstance(mask, str):
        raise AnsibleFilterError(f"mask_secrets: mask must be a string, got {type(mask).__name__}")
    folded = tuple(pattern.casefold() for pattern in patterns)
    return _walk(mapping, folded, mask, secret=False)


def mask_url_credentials(text: str, mask: str = DEFAULT_MASK) -> str:
    """Mask the password part of every URL with credentials in text."""
    return _URL_CREDENTIALS.sub(lambda match: f"{match['head']}{mask}@", text)


def is_secret_key(key: Any, patterns: tuple[str, ...]) -> bool:
    name = str(key).casefold()
    return any(pattern in name for pattern in patterns)


def _walk(data: Any, patterns: tuple[str, ...], mask: str, secret: bool) -> Any:
    if isinstance(data, Mapping):
        return {
            key: _walk(value, patterns, mask, secret or is_secret_key(key, patterns))
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        items = [_walk(item, patterns, mask, secret) for item in data]
        return items if isinstance(data, list) else tuple(items)
    if data is None or isinstance(data, bool) or (isinstance(data, str) and not data):
        return data
    if secret:
        return mask
    if isinstance(data, str):
        return mask_url_credentials(data, mask)
    return data


class FilterModule:
    def filters(self) -> dict:
        return {"mask_secrets": mask_secrets}
