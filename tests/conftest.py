"""Suite-wide: the longest test modules are scheduled first (support.schedule)."""

from __future__ import annotations

import pytest
from support import schedule


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    schedule.heaviest_first(items, str(config.rootpath))
