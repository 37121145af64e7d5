"""The ec2_instance role's filter plugin files, imported as plain modules for their unit tests."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from support.hostkit import ROOT as REPO

FILTERS = REPO / "roles" / "ec2_instance" / "filter_plugins"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, FILTERS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
