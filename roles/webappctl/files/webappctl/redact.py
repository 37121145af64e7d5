"""Secret values never leave the program: the values of settings the project's secret rule marks
secret, and the password of any URL setting, are replaced by [REDACTED] in everything it prints (a
failing release's log lines above all). The rule is the project's one rule, held once per side like
the app's (tests/unit/filters/test_secret_rule_agreement.py keeps the three equal): the host has neither
the controller's plugins nor the app's code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

MARKER = "[REDACTED]"
# A name holding one of these names a secret, unless its last word says the value is about the
# secret rather than the secret itself, or it is the public half of a key pair.
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "PRIVATE")
REFERENCE_WORDS = frozenset({"FILE", "PATH", "DIR", "NAME", "ID", "ARN", "PREFIX", "PATTERN", "REGEX"})
PUBLIC_WORD = "PUBLIC"
URL_NAME_SUFFIX = "DATABASE_URL"
MIN_SECRET_LENGTH = 4
NOT_SECRET = frozenset({"true", "false", "none", "null", "yes", "no"})

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_URL_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<password>\S*)@")


def is_secret_name(name: str) -> bool:
    folded = name.casefold()
    if not any(word.casefold() in folded for word in SECRET_WORDS):
        return False
    parts = [word.upper() for word in _WORDS.findall(name)]
    return not (PUBLIC_WORD in parts or (parts and parts[-1] in REFERENCE_WORDS))


def can_be_secret(value: str) -> bool:
    stripped = value.strip()
    return len(stripped) >= MIN_SECRET_LENGTH and stripped.lower() not in NOT_SECRET


def url_password(value: str) -> str | None:
    """The password of a URL with credentials, decoded; the whole value when it is no URL at all."""
    text = value.strip()
    if not _SCHEME.match(text):
        return value or None
    match = _URL_CREDENTIALS.match(text)
    return unquote(match["password"]) if match and match["password"] else None


def read_settings(path: Path) -> dict[str, str]:
    """KEY=value lines as `docker run --env-file` reads them (no quoting)."""
    found: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return found
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value
    return found


def secrets_of(settings: dict[str, str]) -> set[str]:
    found = set()
    for key, value in settings.items():
        if key.upper().endswith(URL_NAME_SUFFIX):
            password = url_password(value)
            if password:
                found.add(password)
        elif is_secret_name(key):
            found.add(value)
    return {value for value in found if can_be_secret(value)}


class Redactor:
    def __init__(self, values: set[str]) -> None:
        variants: set[str] = set()
        for value in values:
            variants |= {
                value,
                quote(value, safe=""),
                quote_plus(value),
                json.dumps(value)[1:-1],
                repr(value)[1:-1],
            }
        ordered = sorted((v for v in variants if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        for _ in range(3):
            redacted = self.pattern.sub(MARKER, text)
            if redacted == text:
                break
            text = redacted
        return text


def for_files(paths: list[Path]) -> Redactor:
    values: set[str] = set()
    for path in paths:
        values |= secrets_of(read_settings(path))
    return Redactor(values)
