# Filter plugins of the validate role: the inventory-wide rules (a variable no role reads is a typo) and
# the wording of every problem the validation play reports: the variable's name, the file it was set in
# (where Ansible can tell: it tags what it loads from YAML with its origin), and what to change. Names and
# file positions only: a value never appears in what these filters return.
from __future__ import annotations

import difflib
import glob
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from ansible.errors import AnsibleFilterError
from ansible.vars.reserved import get_reserved_names

try:  # ansible-core 2.19 tags what it loads with its origin; without it, problems just name no file.
    from ansible._internal._datatag._tags import Origin
except ImportError:  # pragma: no cover - older ansible-core
    Origin = None

DOCUMENTATION = r"""
name: validate_variable_problems
short_description: Name the variables of a host that no role reads, with the closest known name
description:
  - Reads the host's variables as the inventory and the command line set them (C(hostvars.raw_get), not
    templated, so a broken value cannot hide its name), and returns one sentence per variable that no
    role, playbook or role output knows. A name with a role's prefix (app_, docker_, ...) that is not
    one of the role's is always reported; another name only when it is close to a known one (a
    misspelt prefix). ansible_*, vault_*, names starting with _ and Ansible's reserved names are never
    reported.
  - Each sentence names the file and line the variable was set in, when Ansible recorded it, and the
    closest known name (did you mean ...?), or the replacement of a renamed variable.
  - validate_known_variables reads the option names of every entry point of the given argument spec
    files; validate_failure words a failed validation task (its argument errors, or its message) the
    same way, naming where each variable it mentions was set.
positional: host, known, prefixes, renamed, base
options:
  _input:
    description: hostvars.
    type: raw
    required: true
  host:
    description: The inventory name of the host.
    type: str
    required: true
  known:
    description: Every variable name the roles and playbooks read.
    type: list
    elements: str
    required: true
  prefixes:
    description: The roles' variable prefixes, e.g. app_.
    type: list
    elements: str
    required: true
  renamed:
    description: Old variable names mapped to the sentence that says what replaced them.
    type: dict
    default: {}
  base:
    description: Directory the reported file names are made relative to (the project).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Check the names of the host's variables
  ansible.builtin.set_fact:
    __validate_problems: >-
      {{ hostvars | validate_variable_problems(inventory_hostname, known, ['app_', 'backup_'], {}, base) }}
"""

RETURN = r"""
_value:
  description: One sentence per problem; empty when every name is known.
  type: list
  elements: str
"""

# A prefixed name is reported in any case; these cut-offs only decide whether a suggestion is offered
# (prefixed) and whether an unprefixed name is close enough to a known one to be a typo of it.
_SUGGEST_CUTOFF = 0.6
_TYPO_CUTOFF = 0.85
_IGNORED_PREFIXES = ("ansible_", "vault_", "_")
_SPACES = re.compile(r"\s+")


def validate_spec_files(roles_dir: str) -> list[str]:
    """The argument spec files of the roles in roles_dir, sorted."""
    return sorted(glob.glob(os.path.join(str(roles_dir), "*", "meta", "argument_specs.yml")))


def validate_known_variables(spec_paths: Iterable[str]) -> list[str]:
    """The option names of every entry point of the argument spec files at spec_paths."""
    known: set[str] = set()
    for path in spec_paths:
        with open(path, encoding="utf-8") as handle:
            specs = (yaml.safe_load(handle) or {}).get("argument_specs") or {}
        for entry in specs.values():
            known.update((entry or {}).get("options") or {})
    return sorted(known)


def _raw(hostvars: Any, host: str) -> Mapping[str, Any]:
    raw_get = getattr(hostvars, "raw_get", None)
    raw = raw_get(host) if raw_get else hostvars.get(host)
    if not isinstance(raw, Mapping):
        raise AnsibleFilterError(f"validate filters: no variables for host {host!r} in hostvars")
    return raw


def _where(origin: Any, base: str) -> str:
    if origin is None:
        return ""
    if origin.path:
        path = origin.path
        if base:
            relative = os.path.relpath(path, base)
            path = path if relative.startswith("..") else relative
        return f"{path}:{origin.line_num}" if origin.line_num else path
    description = origin.description or ""
    return "-e" if "'-e'" in description else description


def origin_of(raw: Mapping[str, Any], name: str, base: str = "") -> str:
    """Where name was set for the host: the file and line of its effective value (its name's line when
    that is in the same file), the command line, or "" when Ansible does not know (a role default)."""
    if Origin is None or name not in raw:
        return ""
    key = next((candidate for candidate in raw if candidate == name), name)
    key_origin, value_origin = Origin.get_tag(key), Origin.get_tag(raw[name])
    if key_origin and (value_origin is None or value_origin.path == key_origin.path):
        return _where(key_origin, base)
    return _where(value_origin, base)


def _suggest(name: str, known: list[str], cutoff: float) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=cutoff)
    return close[0] if close else ""


def _set_in(where: str) -> str:
    if where == "-e":
        return " (given with -e)"
    return f" (set in {where})" if where else ""


def validate_variable_problems(
    hostvars: Any,
    host: str,
    known: list[str],
    prefixes: list[str],
    renamed: Mapping[str, str] | None = None,
    base: str = "",
) -> list[str]:
    """One sentence per variable of host that no role reads."""
    raw = _raw(hostvars, host)
    known_set, reserved = set(known), get_reserved_names()
    renamed = renamed or {}
    problems = []
    for name in sorted(str(name) for name in raw):
        if name in known_set or name in reserved or name.startswith(_IGNORED_PREFIXES):
            continue
        where = _set_in(origin_of(raw, name, base))
        if name in renamed:
            problems.append(f"{name}{where}: {renamed[name]}")
            continue
        prefixed = name.startswith(tuple(prefixes))
        close = _suggest(name, known, _SUGGEST_CUTOFF if prefixed else _TYPO_CUTOFF)
        if prefixed:
            hint = f" Did you mean {close}? Rename it." if close else " Fix its name or remove it."
            problems.append(f"{name}{where}: no role reads this variable.{hint}")
        elif close:
            problems.append(
                f"{name}{where}: no role reads this variable; it looks like a misspelling of {close}."
            )
    return problems


def _mentioned(text: str, raw: Mapping[str, Any], known: list[str], base: str) -> list[str]:
    """ "NAME is set in FILE:LINE" for each known variable that text names and the host's inventory sets."""
    found = []
    for name in known:
        if name in raw and re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text):
            where = origin_of(raw, name, base)
            if where:
                found.append(f"{name} is given with -e" if where == "-e" else f"{name} is set in {where}")
    return found


def validate_failure(
    result: Mapping[str, Any] | None,
    task: str,
    entry: str,
    hostvars: Any,
    host: str,
    known: list[str],
    base: str = "",
) -> list[str]:
    """The problems a failed validation task of entry (role[:entry point]) reports: one per argument
    error, else its message; each followed by where the variables it names were set."""
    result = result or {}
    # A loop's failure holds each item's message; an argument spec's, one error per argument.
    items = [item for item in result.get("results") or [] if isinstance(item, Mapping) and item.get("failed")]
    messages = (
        list(result.get("argument_errors") or [])
        or [str(item.get("msg")) for item in items if item.get("msg")]
        or [str(result.get("msg") or "failed without a message")]
    )
    raw = _raw(hostvars, host)
    role = entry.split(":", 1)[0]
    label = f"{role} ({task})" if task else role
    problems = []
    for message in messages:
        text = _SPACES.sub(" ", str(message)).strip()
        places = _mentioned(f"{task} {text}", raw, known, base)
        # A controller-side rule about the managed hosts (the ports their domains need) names the host:
        # its variables were set in that host's inventory files.
        for other in _named_hosts(hostvars, host, text):
            places += [p for p in _mentioned(text, _raw(hostvars, other), known, base) if p not in places]
        problems.append(f"{label}: {text}" + (f" [{'; '.join(places)}]" if places else ""))
    return problems


def _named_hosts(hostvars: Any, host: str, text: str) -> list[str]:
    """The other inventory hosts a message names, as whole words."""
    try:
        names = list(hostvars)
    except TypeError:
        return []
    return [n for n in names if n != host and re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w-])", text)]


class FilterModule:
    def filters(self) -> dict:
        return {
            "validate_spec_files": validate_spec_files,
            "validate_known_variables": validate_known_variables,
            "validate_variable_problems": validate_variable_problems,
            "validate_failure": validate_failure,
        }
