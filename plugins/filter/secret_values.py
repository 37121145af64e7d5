# Filter plugin: secret_values
# The values of a settings dict that the project's secret rule marks secret, for redact/hide_secrets:
# the rule lives in one place (plugins/plugin_utils/secret_rule.py), not in a pattern per role.
from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

# Ansible loads plugin files by path, outside any package: this makes plugins/ importable so that
# the filters and the callback share plugins/plugin_utils, as a collection's plugins do.
if (_PROJECT := str(Path(__file__).resolve().parents[2])) not in sys.path:
    sys.path.append(_PROJECT)

from plugins.plugin_utils import secret_rule

DOCUMENTATION = r"""
name: secret_values
short_description: The values of a settings dict that the project's secret rule marks secret
description:
  - Returns, each once and in order, every value below a key whose name the project's secret-name
    rule marks secret (the rule C(mask_secrets) applies and the app's log filter applies to its
    environment), at any depth; and the password of the URL held by a key ending in C(DATABASE_URL)
    (decoded; the whole value when it is no URL at all).
  - Values that cannot be secrets worth the name are left out, by the same minimum as the app's log
    filter. Shorter than 4 characters once stripped, or a flag word (V(true), V(false), V(yes),
    V(no), V(none), V(null)). Integers and floats count by their decimal form; booleans and V(None) never.
options:
  _input:
    description: The settings, a dict (nested dicts and lists are searched too).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show the container's log without the values of its secret settings
  ansible.builtin.debug:
    msg: "{{ __app_logs.stdout | hide_secrets(app_env | secret_values) }}"
"""

RETURN = r"""
_value:
  description: The secret values, strings, without duplicates.
  type: list
  elements: str
"""


def secret_values(settings: Any) -> list[str]:
    """Return the values of settings that the secret rule marks secret."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(
            f"secret_values: expected a dict of settings, got {type(settings).__name__}; "
            "pass the settings dict itself (e.g. app_env)"
        )
    return secret_rule.secret_values(settings)


class FilterModule:
    def filters(self) -> dict:
        return {"secret_values": secret_values}
