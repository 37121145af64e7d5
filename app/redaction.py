"""Secret values are replaced by [REDACTED] in every log record, whatever logger it came from.

Secrets are the values of variables whose name looks secret, and the password in DATABASE_URL.
Redaction works on the formatted text: the message after %-formatting, the traceback and the stack,
so a secret that only shows once an argument or exception is rendered is still caught.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MARKER = "[REDACTED]"

# The secret rule. The controller holds the same one (plugins/plugin_utils/secret_rule.py, for the
# filters and the stdout callback); tests/unit/filters/test_secret_rule_agreement.py keeps them equal.
# A name holding one of these (case-insensitively, anywhere) names a secret...
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "PRIVATE")
# ...unless its last word says the value is about the secret (SECRET_KEY_FILE, API_KEY_ID)...
REFERENCE_WORDS = frozenset({"FILE", "PATH", "DIR", "NAME", "ID", "ARN", "PREFIX", "PATTERN", "REGEX"})
# ...or it is the public half of a key pair.
PUBLIC_WORD = "PUBLIC"
# A variable whose name ends so holds a URL whose password is a secret.
URL_NAME_SUFFIX = "DATABASE_URL"
# Shorter values (or flags like "true") cannot be secrets worth the name, and replacing them would
# shred every log line they happen to occur in.
MIN_SECRET_LENGTH = 4
NOT_SECRET = frozenset({"true", "false", "none", "null", "yes", "no"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")

# API tokens (app/auth.py) are redacted by their shape: the service never knows them, and a client
# may still paste one where it gets logged (a query string).
TOKEN_SHAPE = re.compile(r"wapp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def is_secret_name(name: str) -> bool:
    folded = name.casefold()
    if not any(word.casefold() in folded for word in SECRET_WORDS):
        return False
    parts = [word.upper() for word in _WORDS.findall(name)]
    return not (PUBLIC_WORD in parts or (parts and parts[-1] in REFERENCE_WORDS))


def can_be_secret(value: str) -> bool:
    stripped = value.strip()
    return len(stripped) >= MIN_SECRET_LENGTH and stripped.lower() not in NOT_SECRET


def secret_values(environ: Mapping[str, str]) -> set[str]:
    """The values in environ that must never be logged."""
    found: set[str] = set()
    for name, value in environ.items():
        if not value:
            continue
        if is_secret_name(name):
            found.add(value)
        if name.upper().endswith(URL_NAME_SUFFIX):
            try:
                password = make_url(value.strip()).password
            except (ArgumentError, ValueError):
                # An unparsable URL may still hold a password; the whole value is then the secret.
                password = value
            if password:
                found.add(str(password))
    return found


def _variants(value: str) -> set[str]:
    # How a secret looks once it went through a URL, a JSON document or a repr().
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1], repr(value)[1:-1]}


def register(values: Iterable[str]) -> None:
    global _pattern
    with _lock:
        for value in values:
            if can_be_secret(value):
                _secrets.update(v for v in _variants(value) if len(v) >= MIN_SECRET_LENGTH)
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None


def clear() -> None:
    """Forget every registered secret (tests)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def redact(text: str) -> str:
    if "wapp_" in text:
        text = TOKEN_SHAPE.sub(MARKER, text)
    pattern = _pattern
    if pattern is None:
        return text
    # A replacement can join two fragments into a new match; a few passes settle that.
    for _ in range(3):
        replaced = pattern.sub(MARKER, text)
        if replaced == text:
            break
        text = replaced
    return text


def _redact_arg(arg: object) -> object:
    if arg is None or isinstance(arg, bool | int | float):
        return arg
    return redact(arg if isinstance(arg, str) else str(arg))


class RedactingFormatter(logging.Formatter):
    """Wraps a handler's formatter and redacts its finished line: the fields a formatter adds
    after the filter ran (asctime, names, a traceback rendered its own way) are covered too."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


class RedactingFilter(logging.Filter):
    """Attach to handlers: rewrites each record so no registered secret reaches the output."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None and "wapp_" not in str(record.msg) + str(record.args):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging would print msg and args raw
            message = f"{record.msg!s} {record.args!r}"
            record.msg, record.args = redact(message), None
        else:
            if redact(message) != message:
                self._rewrite(record, message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Keep the rendered, redacted text only: a formatter would otherwise render it again.
            record.exc_text, record.exc_info = redact(record.exc_text), None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True

    @staticmethod
    def _rewrite(record: logging.LogRecord, message: str) -> None:
        # Keep tuple args where that suffices: uvicorn's access formatter unpacks them.
        if isinstance(record.args, tuple) and isinstance(record.msg, str):
            args = tuple(_redact_arg(a) for a in record.args)
            msg = redact(record.msg)
            try:
                candidate = msg % args if args else msg
            except (TypeError, ValueError):
                candidate = None
            if candidate is not None and redact(candidate) == candidate:
                record.msg, record.args = msg, args
                return
        record.msg, record.args = redact(message), None
        record.__dict__.pop("color_message", None)


# The process environment is known before any settings object exists (uvicorn logs early).
register(secret_values(os.environ))
