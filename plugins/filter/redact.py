# Filter plugin: redact
# Replace every occurrence of known secret values in a string or nested structure, so that
# anything printed (debug output, logs, failure messages) cannot carry them.
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: redact
short_description: Replace known secret values wherever they occur in a string or nested data
description:
  - Walks O(_input) (a string, or dicts, lists and tuples nested to any depth) and replaces every
    occurrence of every secret by O(replacement). The structure is kept (dicts stay dicts, lists stay lists).
  - Occurrences that overlap or touch (for example secrets V(abcd) and V(cdef) in V(abcdef)) are
    merged into one span, and the whole span becomes one O(replacement).
  - No secret survives. If O(replacement) itself contains a secret (for example a secret V(RED) and the
    default V([REDACTED])), V([REDACTED]) is used instead, or if that contains a secret too, eight times
    the first of V(*#?X~%) (then V(U+2580) onwards) that appears in no secret.
    If a replacement next to the remaining text forms a secret again, the span grows until the
    output contains no secret at all.
  - A secret containing line breaks also matches with its lines joined by V(\\n), V(\\r\\n), V(\\r)
    and by the escaped two-character forms V(\\\\n) and V(\\\\r\\\\n) (as in JSON output). Each of its
    lines of 16 characters or more is also a secret on its own, so a PEM key printed line by line is
    still redacted. Shorter lines (V(-----), V(})) are too common to be treated as secrets.
  - Dict keys are redacted like values (a key is printed too). Two keys of one dict that become equal
    after redaction are an error, because merging them would lose data.
  - Other scalars (numbers, booleans, None, dates) are compared in their printed form, C(str(value)).
    They are returned unchanged unless that form contains a secret, in which case the redacted
    string is returned in their place.
  - Text that contains no secret is returned unchanged (the very same object).
positional: secrets, replacement
options:
  _input:
    description: The data to redact.
    type: raw
    required: true
  secrets:
    description:
      - The secret values. A list, or a dict whose values are the secrets (dict keys are not secrets),
        or a single string. Lists and dicts may be nested (a whole vault dict can be passed).
      - Strings are used as they are; integers and floats by their decimal form, C(str(value)).
      - V(None), empty strings and booleans are ignored, so an unset secret does not redact everything.
    type: raw
    required: true
  replacement:
    description: The text that takes the place of each redacted span. Must be a non-empty string.
    type: str
    default: "[REDACTED]"
"""

EXAMPLES = r"""
- name: Show the command output without the database password
  ansible.builtin.debug:
    msg: "{{ __app_migrate.stdout | redact([app_db_password]) }}"

- name: Show the rendered settings with every vault value hidden
  ansible.builtin.debug:
    msg: "{{ __app_settings | redact(vault_app_secrets, replacement='***') }}"
"""

RETURN = r"""
_value:
  description: A copy of the input with every secret replaced; unchanged text is returned as is.
  type: raw
"""

DEFAULT_REPLACEMENT = "[REDACTED]"
# Lines shorter than this are too likely to be ordinary text ("-----", "}") to be secrets alone.
MIN_LINE_SECRET = 16
_FALLBACK_CHARS = "*#?X~%"
_FALLBACK_WIDTH = 8


def redact(data: Any, secrets: Any, replacement: str = DEFAULT_REPLACEMENT) -> Any:
    """Return a copy of data in which no secret occurs."""
    if not isinstance(replacement, str) or not replacement:
        raise AnsibleFilterError(
            f"redact: replacement must be a non-empty string, got {type(replacement).__name__}; "
            "pass text such as '[REDACTED]' or leave it out"
        )
    needles = _needles(_flatten_secrets(secrets, "secrets"))
    if not needles:
        return data
    safe = _safe_replacement(replacement, needles)
    return _walk(data, needles, safe, "input")


def _flatten_secrets(secrets: Any, where: str) -> list[str]:
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
        raise AnsibleFilterError(
            f"redact: {where} must be strings, numbers, lists or dicts, got {type(secrets).__name__}; "
            "convert it with '| string' or leave it out"
        )
    found: list[str] = []
    for position, value in items:
        found.extend(_flatten_secrets(value, f"{where}[{position!r}]"))
    return found


def _needles(secrets: list[str]) -> list[str]:
    """Every string that must not appear in the output, longest first."""
    needles: set[str] = set()
    for secret in secrets:
        needles.add(secret)
        lines = secret.splitlines()
        if len(lines) > 1:
            for joiner in ("\n", "\r\n", "\r", "\\n", "\\r\\n"):
                needles.add(joiner.join(lines))
            needles.update(line for line in lines if len(line.strip()) >= MIN_LINE_SECRET)
    needles.discard("")
    return sorted(needles, key=lambda needle: (-len(needle), needle))


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


def _walk(data: Any, needles: list[str], replacement: str, where: str) -> Any:
    if isinstance(data, str):
        return redact_text(data, needles, replacement)
    if isinstance(data, Mapping):
        result: dict[Any, Any] = {}
        for key, value in data.items():
            new_key = _walk(key, needles, replacement, where)
            if new_key in result:
                raise AnsibleFilterError(
                    f"redact: two keys of the dict at {where} become the same after redaction "
                    "(a secret is part of a key name); rename the keys or redact the values only"
                )
            result[new_key] = _walk(value, needles, replacement, f"{where}[{new_key!r}]")
        return result
    if isinstance(data, list | tuple):
        items = [_walk(item, needles, replacement, f"{where}[{index}]") for index, item in enumerate(data)]
        return items if isinstance(data, list) else tuple(items)
    printed = str(data)
    redacted = redact_text(printed, needles, replacement)
    return data if redacted is printed else redacted


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


class FilterModule:
    def filters(self) -> dict:
        return {"redact": redact}
