"""Masking by key name: the values of secret-looking keys and the passwords in URLs, for output of
settings whose secret values are not known (redaction needs the values, this needs none).
Used by the mask_secrets and hide_secrets filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugins.plugin_utils.redaction import RedactionError
from plugins.plugin_utils.secret_rule import SECRET_WORDS, URL_CREDENTIALS, is_secret_name

DEFAULT_MASK = "********"


def mask_secrets(data: Any, patterns: Any = SECRET_WORDS, mask: Any = DEFAULT_MASK) -> Any:
    """A copy of data with secret-looking values and URL passwords masked."""
    if isinstance(patterns, str) or not isinstance(patterns, list | tuple):
        raise RedactionError(
            f"patterns must be a list of strings, got {type(patterns).__name__}; "
            "write it as a list, e.g. ['PASSWORD', 'TOKEN']"
        )
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            raise RedactionError(
                f"patterns[{index}] must be a non-empty string, got {type(pattern).__name__}; "
                "remove it or write the key fragment as text"
            )
    if not isinstance(mask, str):
        raise RedactionError(f"mask must be a string, got {type(mask).__name__}")
    return _walk(data, tuple(patterns), mask, secret=False)


def mask_url_credentials(text: str, mask: str = DEFAULT_MASK) -> str:
    """Mask the password part of every URL with credentials in text."""
    return URL_CREDENTIALS.sub(lambda match: f"{match['head']}{mask}@", text)


def _walk(data: Any, patterns: tuple[str, ...], mask: str, secret: bool) -> Any:
    if isinstance(data, Mapping):
        return {
            key: _walk(value, patterns, mask, secret or is_secret_name(key, patterns))
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        items = [_walk(item, patterns, mask, secret) for item in data]
        return items if isinstance(data, list) else tuple(items)
    if data is None or isinstance(data, bool) or (isinstance(data, str) and not data):
        return data
    if secret:
        return mask
    if isinstance(data, str):
        return mask_url_credentials(data, mask)
    return data
