"""What is secret, by name and by value: the one rule on the controller side.

The app applies the same rule to its environment (app/redaction.py: the container has no plugins/);
tests/unit/filters/test_secret_rule_agreement.py keeps the two sides equal. Used by the mask_secrets,
secret_values and hide_secrets filters and by the redacted stdout callback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

# A name holding one of these (case-insensitively, anywhere: "DBPASSWORD" too) names a secret...
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "PRIVATE")
# ...unless its last word says the value is about the secret rather than the secret itself: where it
# lives, what it is called, how it looks (SECRET_KEY_FILE, ec2_instance_key_name, kms_key_id).
REFERENCE_WORDS = frozenset({"FILE", "PATH", "DIR", "NAME", "ID", "ARN", "PREFIX", "PATTERN", "REGEX"})
# ...or it is the public half of a key pair (ec2_instance_public_key, ssh_host_key_rsa_public).
PUBLIC_WORD = "PUBLIC"
# A variable whose name ends so holds a URL whose password is a secret (the rest of it is not).
URL_NAME_SUFFIX = "DATABASE_URL"

# Shorter values, and flags, cannot be secrets worth the name: replacing them would shred every line
# they happen to occur in.
MIN_SECRET_LENGTH = 4
NOT_SECRET = frozenset({"true", "false", "none", "null", "yes", "no"})

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# scheme://user:password@ ; the password is greedy up to the last "@" before whitespace.
URL_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<password>\S*)@")


def name_words(name: object) -> list[str]:
    """The words of a name, upper-cased: snake_case, kebab-case, dotted and camelCase alike."""
    return [word.upper() for word in _WORDS.findall(str(name))]


def is_secret_name(name: object, words: Iterable[str] = SECRET_WORDS) -> bool:
    folded = str(name).casefold()
    if not any(word.casefold() in folded for word in words):
        return False
    parts = name_words(name)
    return not (PUBLIC_WORD in parts or (parts and parts[-1] in REFERENCE_WORDS))


def can_be_secret(value: str) -> bool:
    stripped = value.strip()
    return len(stripped) >= MIN_SECRET_LENGTH and stripped.lower() not in NOT_SECRET


def url_password(value: str) -> str | None:
    """The password of a URL with credentials, decoded; the whole value when it is no URL at all."""
    text = value.strip()
    if not _SCHEME.match(text):
        return value or None
    match = URL_CREDENTIALS.match(text)
    return unquote(match["password"]) if match and match["password"] else None


def secret_values(mapping: Mapping[Any, Any]) -> list[str]:
    """The values of mapping (nested to any depth) that the rule marks secret, each once, in order."""
    found: dict[str, None] = {}
    _collect(mapping, False, found)
    return list(found)


def _collect(data: Any, secret: bool, found: dict[str, None]) -> None:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(value, str) and str(key).upper().endswith(URL_NAME_SUFFIX) and not secret:
                _add(url_password(value), found)
            _collect(value, secret or is_secret_name(key), found)
    elif isinstance(data, list | tuple):
        for item in data:
            _collect(item, secret, found)
    elif secret and isinstance(data, str | int | float) and not isinstance(data, bool):
        _add(str(data), found)


def _add(value: str | None, found: dict[str, None]) -> None:
    if value and can_be_secret(value):
        found[value] = None
