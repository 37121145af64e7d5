"""Every role documents exactly the variables it defaults: the keys of defaults/main.yml and of
meta/argument_specs.yml (entry point main) are the same set, and carry the role's prefix. Every entry
point other playbooks and roles call (tasks_from, the validation play's role:entry lists) has a spec
and a tasks file, and every option's default in any entry point's spec is the one defaults/main.yml
gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = ROOT / "roles"
ROLE_DIRS = sorted(path for path in ROLES.iterdir() if (path / "tasks" / "main.yml").is_file())
INCLUDES = ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role")
VALIDATE_LISTS = ("validate_controller_roles", "validate_host_roles")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def _walk(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def entry_points() -> set[tuple[str, str]]:
    """(role, entry point) for every tasks_from of playbooks/ and roles/, and every role[:entry] the
    validation play is given (the entry point defaults to validate); main for every role."""
    found = {(role.name, "main") for role in ROLE_DIRS}
    for path in sorted([*(ROOT / "playbooks").rglob("*.yml"), *ROLES.rglob("*.yml")]):
        for node in _walk(yaml.safe_load(path.read_text())):
            for key in INCLUDES:
                include = node.get(key)
                if (
                    isinstance(include, dict)
                    and "tasks_from" in include
                    and "{{" not in include["tasks_from"]
                ):
                    found.add((include["name"], include["tasks_from"].removesuffix(".yml")))
            for key in VALIDATE_LISTS:
                entries = node.get(key)
                for entry in entries if isinstance(entries, list) else []:
                    role, _, tasks = f"{entry}:validate".partition(":")
                    found.add((role, tasks.split(":")[0]))
    return found


ENTRY_POINTS = sorted(entry_points())


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


def test_entry_points_are_found():
    # The ones the playbooks call besides main: a rollback, a restore, the boot recovery, the validations.
    assert {("app", "rollback"), ("backup", "restore"), ("webappctl", "recover"), ("app", "validate")} <= set(
        ENTRY_POINTS
    )
    assert ("backup", "validate_restore") in ENTRY_POINTS


@pytest.mark.parametrize(("role", "entry"), ENTRY_POINTS, ids=[f"{r}:{e}" for r, e in ENTRY_POINTS])
def test_every_entry_point_has_a_spec_and_a_tasks_file(role, entry):
    specs = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]
    assert entry in specs, (
        f"{role}: tasks_from {entry} is called but meta/argument_specs.yml has no entry {entry}"
    )
    assert (ROLES / role / "tasks" / f"{entry}.yml").is_file(), f"{role}: no tasks/{entry}.yml"


def test_every_spec_entry_point_has_a_tasks_file(role):
    for entry in load(role / "meta" / "argument_specs.yml")["argument_specs"]:
        assert (role / "tasks" / f"{entry}.yml").is_file(), (
            f"{role.name}: spec {entry} has no tasks/{entry}.yml"
        )


def test_spec_defaults_are_the_role_defaults(role):
    """Each entry point states its options' defaults, and they are defaults/main.yml's; an option the
    role gives no default is required."""
    defaults = load(role / "defaults" / "main.yml")
    for entry, spec in load(role / "meta" / "argument_specs.yml")["argument_specs"].items():
        for name, option in (spec.get("options") or {}).items():
            if name in defaults:
                assert "default" in option, f"{role.name}:{entry}: {name} states no default"
                assert option["default"] == defaults[name], (
                    f"{role.name}:{entry}: {name} defaults to {option['default']!r} in the spec but to "
                    f"{defaults[name]!r} in defaults/main.yml"
                )
            else:
                assert option.get("required") is True, (
                    f"{role.name}:{entry}: {name} has no default and is not required"
                )
