"""ASGI entry: `uvicorn app.main:app`. Settings come from the environment (and ./.env if present)."""

from __future__ import annotations

import sys
from pathlib import Path

from app.factory import create_app
from app.settings import SettingsError, load_settings

try:
    settings = load_settings(env_file=Path(".env"))
except SettingsError as exc:
    # A plain line, not a traceback: the message names the key and never echoes its value.
    print(f"webapp: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

app = create_app(settings)
