"""The ASGI entry module as uvicorn imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.app_helpers import TEST_SECRET

REPO = Path(__file__).resolve().parents[3]


def test_import_freezes_startup_objects(tmp_path: Path) -> None:
    # The collector's full passes must not walk what the imports made (a pause on the event loop).
    probe = "import gc, app.main; print(gc.get_freeze_count())"
    env = {"PYTHONPATH": str(REPO), "SECRET_KEY": TEST_SECRET, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) > 10_000
