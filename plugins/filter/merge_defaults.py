# Filter plugin: merge_defaults
# Merge operator-supplied settings over role defaults once, checking in one error every setting
# that is unknown (a typo) or required but unset, before anything is written to the host.
from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: merge_defaults
short_description: Merge settings over their defaults, rejecting unknown and missing ones
description:
  - Returns a new dict holding every key of O(defaults). Where O(_input) (the overrides) has the key
    with a value other than V(None), that value wins; a key that is absent or V(None) in the
    overrides keeps its default. Neither input is changed (values are deep-copied).
  - The merge is shallow, so a dict value in the overrides replaces the default dict as a whole.
  - A key of the overrides that is not in O(defaults) is an error naming the key and the closest
    known key, unless O(allow_unknown) is true; then it is kept (or left out if its value is V(None)).
  - A key listed in O(required) is missing when, after the merge, it is absent, V(None), an empty
    string, or a string of whitespace only. All missing keys are named in one error, together with
    any unknown keys, so one run shows everything to fix.
  - Error messages name keys and types, never values.
positional: defaults, required, allow_unknown
options:
  _input:
    description: The overrides, usually from the vault. V(None) counts as an empty dict.
    type: dict
    required: true
  defaults:
    description: Every known key with its default value.
    type: dict
    required: true
  required:
    description: Keys that must have a non-empty value after the merge.
    type: list
    elements: str
    default: []
  allow_unknown:
    description: Keep keys that are not in O(defaults) instead of failing.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Merge the vault settings over the role defaults
  ansible.builtin.set_fact:
    __app_settings: >-
      {{ app_env | merge_defaults(__app_env_defaults, required=['SECRET_KEY', 'DATABASE_URL']) }}
  no_log: true
"""

RETURN = r"""
_value:
  description: A new dict with every default key, overridden where the overrides set a value.
  type: dict
"""


def merge_defaults(
    overrides: Mapping[Any, Any] | None,
    defaults: Mapping[Any, Any],
    required: list[Any] | tuple[Any, ...] = (),
    allow_unknown: bool = False,
) -> dict[Any, Any]:
    """Return defaults overridden by the non-None values of overrides."""
    overrides = {} if overrides is None else overrides
    _check_mapping(overrides, "the input (overrides)")
    _check_mapping(defaults, "defaults")
    if isinstance(required, str) or not isinstance(required, list | tuple):
        raise AnsibleFilterError(
            f"merge_defaults: required must be a list of key names, got {type(required).__name__}; "
            "write it as a list, e.g. required=['SECRET_KEY']"
        )
    if not isinstance(allow_unknown, bool):
        raise AnsibleFilterError(
            f"merge_defaults: allow_unknown must be a boolean, got {type(allow_unknown).__name__}; "
            "use true or false (or '| bool')"
        )

    unknown = [key for key in overrides if key not in defaults]
    merged = copy.deepcopy(dict(defaults))
    for key, value in overrides.items():
        if value is not None and (key in defaults or allow_unknown):
            merged[key] = copy.deepcopy(value)
    missing = [key for key in required if _is_unset(merged.get(key))]

    problems = []
    if unknown and not allow_unknown:
        problems.append("unknown keys: " + "; ".join(_describe_unknown(key, defaults) for key in unknown))
    if missing:
        problems.append(
            "required keys without a value (missing, null or empty): " + ", ".join(map(repr, missing))
        )
    if problems:
        raise AnsibleFilterError(
            "merge_defaults: " + " | ".join(problems) + ". Set the required keys in the overrides "
            "(e.g. the vault), fix or remove the unknown ones, or pass allow_unknown=true."
        )
    return merged


def _check_mapping(value: Any, what: str) -> None:
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(
            f"merge_defaults: {what} must be a dict, got {type(value).__name__}; "
            "pass a dict of settings such as {'PORT': 8000}"
        )


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _describe_unknown(key: Any, defaults: Mapping[Any, Any]) -> str:
    known = {str(name).casefold(): str(name) for name in defaults}
    close = difflib.get_close_matches(str(key).casefold(), list(known), n=1, cutoff=0.6)
    hint = f" (did you mean {known[close[0]]!r}?)" if close else ""
    return f"{key!r}{hint}"


class FilterModule:
    def filters(self) -> dict:
        return {"merge_defaults": merge_defaults}
