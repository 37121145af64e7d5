"""The one redaction implementation: the redact and hide_secrets filters and the redacted stdout
callback all replace secrets through a Redactor.

A secret is searched for as it is and as it reads once printed in other ways: its lines joined by
other line breaks or by escaped ones, each long line of it alone, JSON-escaped, URL-quoted, as a
Python repr, and base64-encoded (alone, or at any offset inside a longer encoded text).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

DEFAULT_REPLACEMENT = "[REDACTED]"
# Lines shorter than this are too likely to be ordinary text ("-----", "}") to be secrets alone.
MIN_LINE_SECRET = 16
# Shorter base64 fragments of a short secret could occur in any encoded text by chance.
MIN_ENCODED_SECRET = 8
_FALLBACK_CHARS = "*#?X~%"
_FALLBACK_WIDTH = 8
_URLSAFE = str.maketrans("+/", "-_")
# With 0, 1 or 2 bytes before the secret in a longer text, this many leading characters of its
# encoding also depend on those bytes, so they are cut off.
_B64_LEADING = (0, 2, 3)


class RedactionError(ValueError):
    """The data cannot be redacted as asked; the message names no secret value."""


def flatten_secrets(secrets: Any, where: str = "secrets") -> list[str]:
    """Strings as they are, numbers by their decimal form; None, "" and booleans are no secrets."""
    if secrets is None or isinstance(secrets, bool):
        return []
    if isinstance(secrets, str):
        return [secrets] if secrets else []
    if isinstance(secrets, int | float):
        return [str(secrets)]
    if isinstance(secrets, Mapping):
        items: Iterable[tuple[Any, Any]] = secrets.items()
    elif isinstance(secrets, list | tuple | set | frozenset):
        items = enumerate(secrets)
    else:
        raise RedactionError(
            f"{where} must be strings, numbers, lists or dicts, got {type(secrets).__name__}; "
            "convert it with '| string' or leave it out"
        )
    found: list[str] = []
    for position, value in items:
        found.extend(flatten_secrets(value, f"{where}[{position!r}]"))
    return found


def printed_forms(secret: str) -> set[str]:
    """How one secret can read in printed output, itself included."""
    forms = {secret}
    lines = secret.splitlines()
    long_lines = [line for line in lines if len(line.strip()) >= MIN_LINE_SECRET]
    if len(lines) > 1:
        forms.update(joiner.join(lines) for joiner in ("\n", "\r\n", "\r", "\\n", "\\r\\n"))
        forms.update(long_lines)
    for form in (secret, *long_lines):
        forms.update(_encodings(form))
    forms.discard("")
    return forms


def _encodings(text: str) -> set[str]:
    forms = {
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        quote(text, safe=""),
        quote(text),
        quote_plus(text),
        repr(text)[1:-1],
    }
    return forms | _base64_forms(text.encode("utf-8", "surrogatepass"))


def _base64_forms(raw: bytes) -> set[str]:
    forms = {base64.b64encode(raw).decode()}
    for shift, leading in enumerate(_B64_LEADING):
        encoded = base64.b64encode(bytes(shift) + raw).decode().rstrip("=")
        # The last character also depends on the byte after the secret unless the groups of three close.
        trailing = 1 if (shift + len(raw)) % 3 else 0
        forms.add(encoded[leading : len(encoded) - trailing])
    forms |= {form.translate(_URLSAFE) for form in forms}
    return {form for form in forms if len(form) >= MIN_ENCODED_SECRET}


class Redactor:
    """Replaces every printed form of the given secrets; build once, use for many texts."""

    def __init__(self, secrets: Iterable[str], replacement: str = DEFAULT_REPLACEMENT) -> None:
        if not isinstance(replacement, str) or not replacement:
            raise RedactionError(
                f"replacement must be a non-empty string, got {type(replacement).__name__}; "
                "pass text such as '[REDACTED]' or leave it out"
            )
        found: set[str] = set()
        for secret in secrets:
            if secret:
                found |= printed_forms(secret)
        # Longest first, so a secret that contains another is found whole.
        self.needles = sorted(found, key=lambda needle: (-len(needle), needle))
        self.replacement = _safe_replacement(replacement, self.needles) if self.needles else replacement
        # One pass tells whether a text holds any needle at all (most hold none): several times
        # faster than searching for each needle in turn.
        self._screen = re.compile("|".join(map(re.escape, self.needles))) if self.needles else None

    def __bool__(self) -> bool:
        return bool(self.needles)

    def text(self, text: str) -> str:
        """text without any secret; the very same object when it held none."""
        if self._screen is None or self._screen.search(text) is None:
            return text
        return redact_text(text, self.needles, self.replacement)

    def data(self, data: Any, where: str = "input") -> Any:
        """A copy of strings, dicts, lists and tuples nested to any depth, keys included, without secrets.
        Other values are compared in their printed form, str(value), and replaced by it when it changes."""
        return self._walk(data, where) if self.needles else data

    def _walk(self, data: Any, where: str) -> Any:
        # where names the whole input only: building a path for every item would cost more than the walk.
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, Mapping):
            result: dict[Any, Any] = {}
            for key, value in data.items():
                new_key = self._walk(key, where)
                if new_key in result:
                    raise RedactionError(
                        f"two keys of a dict in the {where} become the same after redaction "
                        "(a secret is part of a key name); rename the keys or redact the values only"
                    )
                result[new_key] = self._walk(value, where)
            return result
        if isinstance(data, list | tuple):
            items = [self._walk(item, where) for item in data]
            return items if isinstance(data, list) else tuple(items)
        printed = str(data)
        redacted = self.text(printed)
        return data if redacted is printed else redacted


def _safe_replacement(replacement: str, needles: list[str]) -> str:
    if not _contains_any(replacement, needles):
        return replacement
    if not _contains_any(DEFAULT_REPLACEMENT, needles):
        return DEFAULT_REPLACEMENT
    used = set().union(*needles)
    char = next(c for c in _candidate_chars() if c not in used)
    return char * _FALLBACK_WIDTH


def _candidate_chars() -> Iterable[str]:
    yield from _FALLBACK_CHARS
    # A finite set of secrets cannot use every code point, so this always finds one.
    yield from (chr(code) for code in range(0x2580, 0x10000))


def _contains_any(text: str, needles: list[str]) -> bool:
    return any(needle in text for needle in needles)


def redact_text(text: str, needles: list[str], replacement: str) -> str:
    """Replace the union of all needle spans; grow spans until the output holds no needle."""
    spans = _merge(_find(text, needles))
    if not spans:
        return text
    while True:
        output, pieces = _render(text, spans, replacement)
        leaks = [_to_source(start, end, pieces) for start, end in _find(output, needles)]
        if not leaks:
            return output
        # Each leak covers at least one source character not yet redacted, so this terminates.
        spans = _merge(spans + leaks)


def _find(text: str, needles: list[str]) -> list[tuple[int, int]]:
    spans = []
    for needle in needles:
        start = text.find(needle)
        while start != -1:
            spans.append((start, start + len(needle)))
            start = text.find(needle, start + 1)
    return spans


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of spans; touching spans become one so the output shows one replacement."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# A piece maps an output range to a source range; replaced pieces map to their whole span.
Piece = tuple[int, int, int, int, bool]


def _render(text: str, spans: list[tuple[int, int]], replacement: str) -> tuple[str, list[Piece]]:
    parts: list[str] = []
    pieces: list[Piece] = []
    out = src = 0
    for start, end in [*spans, (len(text), len(text))]:
        if start > src:
            parts.append(text[src:start])
            pieces.append((out, out + start - src, src, start, False))
            out += start - src
        if end > start:
            parts.append(replacement)
            pieces.append((out, out + len(replacement), start, end, True))
            out += len(replacement)
        src = end
    return "".join(parts), pieces


def _to_source(start: int, end: int, pieces: list[Piece]) -> tuple[int, int]:
    lows, highs = [], []
    for out_start, out_end, src_start, src_end, replaced in pieces:
        if out_end <= start or out_start >= end:
            continue
        if replaced:
            lows.append(src_start)
            highs.append(src_end)
        else:
            lows.append(src_start + max(start - out_start, 0))
            highs.append(src_start + min(end, out_end) - out_start)
    return min(lows), max(highs)
