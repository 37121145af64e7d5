# Filter plugin: to_dotenv
# Render settings as an env file that `docker run --env-file` (and community.docker's env_file)
# read back byte for byte; any value they would alter is refused instead of silently changed.
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: to_dotenv
short_description: Render a dict as KEY=value lines for docker run --env-file
description:
  - Returns one C(KEY=value) line per item, sorted by key, each ending in a newline (an empty dict
    gives an empty string). Values are written literally, with no quoting or escaping, because
    C(docker run --env-file) takes everything after the first V(=) as it is (quotes, V(#), V(=),
    V($), backslashes and leading spaces included). This is not the format of
    C(docker compose env_file) or shell C(source), which process quotes.
  - Every value the filter accepts comes back byte-identical from C(docker run --env-file) (checked
    against Docker 20.10) and from the env file reader of C(community.docker.docker_container).
    Values they cannot carry are refused with an error naming the key, never the value.
  - Keys must be strings matching C(^[A-Za-z_][A-Za-z0-9_]*$).
  - Values may be strings, integers (written in decimal) and booleans (written V(true) and V(false),
    as most settings parsers expect). V(None) is an error, so decide between an empty string and
    leaving the key out (M(merge_defaults) already fills V(None) from the defaults). Floats, lists
    and dicts are errors; convert them explicitly (C(| string), C(| to_json)).
  - Refused values, as they would not come back unchanged, are strings containing a line feed,
    a carriage return (Docker drops one at the end of a line; Python's reader splits lines on it) or
    a NUL byte (the runtime refuses it), strings ending in whitespace (the community.docker reader
    strips it; Docker itself keeps it), strings that are not valid UTF-8 (lone surrogates), and lines
    longer than 65535 bytes (Docker's line reader limit).
options:
  _input:
    description: The settings to render.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write the app's env file
  ansible.builtin.copy:
    content: "{{ __app_settings | to_dotenv }}"
    dest: /app/.env
    mode: "0600"
  no_log: true
"""

RETURN = r"""
_value:
  description: The env file text, one sorted C(KEY=value) line per item, each ending in a newline.
  type: str
"""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The Docker CLI reads env files with bufio.Scanner (64 KiB buffer): a line of 65535 bytes plus its
# newline is read, one byte more fails with "token too long" (measured with Docker 20.10).
MAX_LINE_BYTES = 65535


def to_dotenv(mapping: Mapping[Any, Any]) -> str:
    """Return sorted KEY=value lines that docker run --env-file reads back unchanged."""
    if not isinstance(mapping, Mapping):
        raise AnsibleFilterError(
            f"to_dotenv: input must be a dict of settings, got {type(mapping).__name__}; "
            "pass a dict such as {'PORT': 8000}"
        )
    for key in mapping:
        _check_key(key)
    lines = [f"{key}={render_value(key, mapping[key])}\n" for key in sorted(mapping)]
    return "".join(lines)


def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise AnsibleFilterError(
            f"to_dotenv: keys must be strings, got a key of type {type(key).__name__}; "
            "quote the key name in YAML"
        )
    if not _NAME.fullmatch(key):
        raise AnsibleFilterError(
            f"to_dotenv: key {key!r} is not a valid variable name; expected letters, digits and "
            "underscores, not starting with a digit (^[A-Za-z_][A-Za-z0-9_]*$); rename the key"
        )


def render_value(key: str, value: Any) -> str:
    """The literal text written after KEY=, or an error naming the key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        _refuse(key, "is null; set it to '' for an empty value, or remove the key to leave it unset")
    if not isinstance(value, str):
        _refuse(
            key,
            f"has type {type(value).__name__}; expected a string, integer or boolean, "
            "convert it with '| string' or '| to_json'",
        )
    if "\n" in value or "\r" in value:
        _refuse(key, "contains a line break, which an env file cannot carry; remove it or encode the value")
    if "\0" in value:
        _refuse(key, "contains a NUL character, which no environment variable can carry; remove it")
    if value[-1:].isspace():
        _refuse(key, "ends in whitespace, which env file readers strip; remove the trailing whitespace")
    try:
        size = len(key.encode()) + 1 + len(value.encode())
    except UnicodeEncodeError:
        _refuse(key, "is not valid UTF-8 text (it holds a lone surrogate); fix the value's encoding")
    if size > MAX_LINE_BYTES:
        _refuse(key, f"makes a line of {size} bytes; Docker reads at most {MAX_LINE_BYTES} bytes per line")
    return value


def _refuse(key: str, reason: str) -> NoReturn:
    raise AnsibleFilterError(f"to_dotenv: the value of {key!r} {reason}")


class FilterModule:
    def filters(self) -> dict:
        return {"to_dotenv": to_dotenv}
