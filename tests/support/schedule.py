"""The order pytest-xdist hands test modules to its workers (`--dist loadfile` keeps collection
order): the longest modules first, so the suite does not end with one worker running a long module
alone while the others idle. The list is a scheduling hint, measured from `--durations` of a full run
on the 2-core CI machine (module setup plus its tests, seconds); modules not listed keep their
collection order after these, and unit tests come last. A wrong or stale figure costs time, never a
result (tests/unit/support/test_schedule.py keeps every entry pointing at a module that exists)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

HEAVIEST_FIRST: tuple[str, ...] = (
    "tests/integration/fleet/test_fleet_rolling.py",
    "tests/integration/aws/test_aws_fleet.py",
    "tests/integration/deploy/test_deploy_interrupted.py",
    "tests/integration/deploy_scripts/test_deploy_scripts_rehearsal.py",
    "tests/integration/deploy/test_deploy_host.py",
    "tests/integration/backup/test_backup_host.py",
    "tests/integration/rehearsal/test_rehearsal.py",
    "tests/integration/engine/test_engine_host.py",
    "tests/integration/aws/test_aws_data_volume_reuse.py",
    "tests/integration/backup/test_backup_offsite_host.py",
    "tests/integration/aws/test_aws_controller_policy.py",
    "tests/integration/deploy/test_deploy_https.py",
    "tests/integration/aws/test_aws_instance_host.py",
    "tests/integration/backup/test_restore_snapshot.py",
)


def rank(module: str) -> tuple[int, int]:
    """Sort key of a module (its path from the repository root, POSIX form)."""
    if module in HEAVIEST_FIRST:
        return (0, HEAVIEST_FIRST.index(module))
    return (2, 0) if PurePosixPath(module).parts[:2] == ("tests", "unit") else (1, 0)


def heaviest_first(items: list[pytest.Item], root: str) -> None:
    """Reorder `items` in place by their module's rank; the order within a module, and among modules
    of one rank, stays as collected."""
    prefix = root.rstrip("/") + "/"

    def module_of(item: pytest.Item) -> str:
        path = str(item.path)
        return path[len(prefix) :] if path.startswith(prefix) else path

    items.sort(key=lambda item: rank(module_of(item)))
