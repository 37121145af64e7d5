"""Every role documents exactly the variables it defaults: the keys of defaults/main.yml and of
meta/argument_specs.yml (entry point main) are the same set, and carry the role's prefix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
ROLE_DIRS = sorted(path for path in ROLES.iterdir() if (path / "tasks" / "main.yml").is_file())


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@pytest.fixture(params=ROLE_DIRS, ids=lambda path: path.name)
def role(request) -> Path:
    return request.param


def test_roles_are_found():
    assert {"app", "docker", "logrotate"} <= {path.name for path in ROLE_DIRS}


def test_role_has_defaults_and_argument_specs(role):
    for name in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml"):
        assert (role / name).is_file(), f"{role.name}: missing {name}"


def test_argument_specs_match_defaults(role):
    defaults = set(load(role / "defaults" / "main.yml"))
    options = set(load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"])
    only_defaults, only_specs = sorted(defaults - options), sorted(options - defaults)
    assert not only_defaults, f"{role.name}: in defaults but not in argument_specs: {only_defaults}"
    assert not only_specs, f"{role.name}: in argument_specs but not in defaults: {only_specs}"


def test_every_option_has_a_type_and_description(role):
    options = load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    incomplete = sorted(name for name, spec in options.items() if not {"type", "description"} <= set(spec))
    assert not incomplete, f"{role.name}: options without type or description: {incomplete}"


def test_defaults_carry_the_role_prefix(role):
    defaults = load(role / "defaults" / "main.yml")
    unprefixed = sorted(key for key in defaults if not key.startswith(f"{role.name}_"))
    assert not unprefixed, f"{role.name}: defaults without the {role.name}_ prefix: {unprefixed}"


def test_internal_vars_are_double_underscored(role):
    path = role / "vars" / "main.yml"
    if not path.is_file():
        pytest.skip(f"{role.name} has no vars/main.yml")
    public = sorted(key for key in load(path) if not key.startswith(f"__{role.name}_"))
    assert not public, f"{role.name}: vars/main.yml keys without the __{role.name}_ prefix: {public}"
