"""Secret values never leave the program: the values of settings whose name the project's rule marks
secret (the rule comes from the controller, in the config) and the password of any URL setting are
replaced by [REDACTED] in everything it prints (a failing release's log lines above all)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit

MARKER = "[REDACTED]"
MIN_LENGTH = 4
NOT_SECRET = {"true", "false", "none", "null", "yes", "no"}


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


def secrets_of(settings: dict[str, str], name_pattern: str) -> set[str]:
    rule = re.compile(name_pattern)
    found = set()
    for key, value in settings.items():
        if rule.search(key):
            found.add(value)
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.add(password)
    return {v for v in found if len(v) >= MIN_LENGTH and v.lower() not in NOT_SECRET}


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
        ordered = sorted((v for v in variants if len(v) >= MIN_LENGTH), key=len, reverse=True)
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


def for_files(paths: list[Path], name_pattern: str) -> Redactor:
    values: set[str] = set()
    for path in paths:
        values |= secrets_of(read_settings(path), name_pattern)
    return Redactor(values)
