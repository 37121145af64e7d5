"""support.schedule: every hinted module exists, heavy modules are collected first, unit tests last,
and a module's tests stay together."""

from __future__ import annotations

import subprocess
import sys

from support import schedule
from support.hostkit import ROOT


def test_every_hinted_module_exists():
    missing = [module for module in schedule.HEAVIEST_FIRST if not (ROOT / module).is_file()]
    assert not missing, f"support.schedule names modules that are gone: {missing}"


def test_xdist_keeps_the_collection_order():
    # By default xdist sorts modules by their number of tests, which would undo the hint.
    assert "--no-loadscope-reorder" in (ROOT / "pyproject.toml").read_text()


def test_the_collection_puts_the_hinted_modules_first_and_the_unit_tests_last():
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ids = [line for line in listed.splitlines() if "::" in line]
    modules = list(dict.fromkeys(i.split("::")[0] for i in ids))
    hinted = list(schedule.HEAVIEST_FIRST)
    assert modules[: len(hinted)] == hinted
    first_unit = next(n for n, m in enumerate(modules) if m.startswith("tests/unit/"))
    assert all(m.startswith("tests/unit/") for m in modules[first_unit:])
    assert all(m.startswith("tests/integration/") for m in modules[len(hinted) : first_unit])
    # A module's tests stay together (xdist's loadfile hands out whole modules).
    runs = [
        m
        for n, m in enumerate(i.split("::")[0] for i in ids)
        if n == 0 or not ids[n - 1].startswith(m + "::")
    ]
    assert len(runs) == len(modules)
