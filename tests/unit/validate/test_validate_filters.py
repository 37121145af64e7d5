"""The filters behind the validation play, as plain functions: the names of a host's variables (a name
no role reads is a typo, with the closest known name), where each was set, the wording of a failed
check, image references, and the app's ports in the security group."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from ansible._internal._datatag._tags import Origin

ROOT = Path(__file__).resolve().parents[3]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


variables = load(ROOT / "roles" / "validate" / "filter_plugins" / "validate_variables.py")
images = load(ROOT / "roles" / "app" / "filter_plugins" / "app_image_reference.py")
ports = load(ROOT / "roles" / "ec2_instance" / "filter_plugins" / "ec2_instance_ports.py")

SPECS = variables.validate_spec_files(ROOT / "roles")
ROLE_VARS = yaml.safe_load((ROOT / "roles" / "validate" / "vars" / "main.yml").read_text())
# As the validate role builds it: every argument spec option, the roles' outputs, the playbooks' -e names
KNOWN = (
    variables.validate_known_variables(SPECS)
    + ROLE_VARS["__validate_outputs"]
    + ROLE_VARS["__validate_playbook_variables"]
)
PREFIXES = ["app_", "backup_", "docker_", "ec2_instance_", "logrotate_", "webappctl_", "validate_"]
VARS_FILE = str(ROOT / "inventory" / "x" / "group_vars" / "webapp" / "vars.yml")


class FakeHostVars:
    """What hostvars offers the filters: each host's variables as loaded, with their origin tags."""

    def __init__(self, hosts: dict[str, dict]) -> None:
        self.hosts = hosts

    def raw_get(self, host: str) -> dict:
        return self.hosts[host]


def tagged(name: str, value: object, line: int, path: str = VARS_FILE) -> tuple[str, object]:
    return Origin(path=path, line_num=line).tag(name), Origin(path=path, line_num=line).tag(value)


def host(*pairs: tuple[str, object]) -> FakeHostVars:
    return FakeHostVars({"web": dict(pairs)})


def problems(hostvars: FakeHostVars, renamed: dict | None = None) -> list[str]:
    return variables.validate_variable_problems(hostvars, "web", KNOWN, PREFIXES, renamed or {}, str(ROOT))


def test_known_variables_come_from_every_entry_point_of_every_role():
    assert len(SPECS) >= 7
    assert {"app_image", "docker_log_max_size", "ec2_instance_app_ports", "webappctl_args"} <= set(KNOWN)
    assert "ec2_instance_app_port" not in KNOWN


def test_a_misspelt_role_variable_is_named_with_its_file_line_and_the_right_name():
    found = problems(host(tagged("app_imgae", "webapp:1", 7)))
    assert found == [
        "app_imgae (set in inventory/x/group_vars/webapp/vars.yml:7): no role reads this variable. "
        "Did you mean app_image? Rename it."
    ]


def test_a_misspelt_prefix_is_caught_by_its_closeness_to_a_known_name():
    found = problems(host(tagged("ec2_instnace_type", "t3.small", 3)))
    assert len(found) == 1 and "misspelling of ec2_instance_type" in found[0] and "vars.yml:3" in found[0]


def test_an_unknown_prefixed_name_without_a_close_one_is_still_reported():
    found = problems(host(tagged("backup_zzzzzzzzzzzzzzzzzz", 1, 2)))
    assert len(found) == 1 and "no role reads this variable. Fix its name or remove it." in found[0]


def test_known_reserved_private_and_unrelated_names_pass():
    found = problems(
        host(
            tagged("app_image", "webapp:1", 1),
            tagged("vault_app_secret_key", "s3cr3t-value", 2),
            tagged("ansible_user", "root", 3),
            tagged("rehearsal_ssh_port", "2200", 4),
            tagged("ec2_instance_provisioned", {}, 5),
            ("inventory_hostname", "web"),
            ("groups", {}),
            ("__validate_problems", []),
        )
    )
    assert found == []


def test_a_renamed_variable_says_what_replaced_it():
    renamed = {"ec2_instance_app_port": "renamed: write ec2_instance_app_ports: [8000]."}
    found = problems(host(tagged("ec2_instance_app_port", 8000, 9)), renamed)
    assert found == [
        "ec2_instance_app_port (set in inventory/x/group_vars/webapp/vars.yml:9): renamed: "
        "write ec2_instance_app_ports: [8000]."
    ]


def test_a_value_given_with_e_says_so_and_no_value_is_ever_printed():
    name = Origin(description="<CLI option '-e'>").tag("app_imgae")
    value = Origin(description="<CLI option '-e'>").tag("very-secret-value-1234")
    found = problems(FakeHostVars({"web": {name: value}}))
    assert found and found[0].startswith("app_imgae (given with -e):")
    assert "very-secret-value-1234" not in " ".join(found)


def test_an_overridden_value_is_located_where_it_took_effect():
    other = str(ROOT / "inventory" / "x" / "host_vars" / "web.yml")
    name = Origin(path=VARS_FILE, line_num=4).tag("app_publish")
    value = Origin(path=other, line_num=2).tag("70000:8000")
    assert variables.origin_of({name: value}, "app_publish", str(ROOT)) == "inventory/x/host_vars/web.yml:2"


def test_a_failed_check_names_where_the_variables_it_mentions_were_set():
    hostvars = host(tagged("app_publish", "70000:8000", 5), tagged("app_env", {"SECRET_KEY": "x"}, 8))
    result = {"failed": True, "msg": 'app_publish must be "[IP:]HOST_PORT:8000"\n  (got "70000:8000").'}
    task = "Check the published port"
    found = variables.validate_failure(result, task, "app", hostvars, "web", KNOWN, str(ROOT))
    assert found == [
        'app (Check the published port): app_publish must be "[IP:]HOST_PORT:8000" (got "70000:8000"). '
        "[app_publish is set in inventory/x/group_vars/webapp/vars.yml:5]"
    ]


def test_a_failed_argument_spec_gives_one_problem_per_argument():
    hostvars = host(tagged("app_image_source", "ftp", 2))
    result = {
        "failed": True,
        "msg": "Validation of arguments failed: ...",
        "argument_errors": ["value of app_image_source must be one of: registry, archive, got: ftp", "other"],
    }
    found = variables.validate_failure(result, "Validating arguments", "app:validate", hostvars, "web", KNOWN)
    assert len(found) == 2
    assert found[0].startswith("app (Validating arguments): value of app_image_source must be one of")
    assert found[0].endswith("[app_image_source is set in " + VARS_FILE + ":2]")


def test_a_failed_loop_reports_each_failed_item():
    items = [{"failed": False}, {"failed": True, "msg": "a"}]
    result = {"failed": True, "msg": "One or more items failed", "results": items}
    assert variables.validate_failure(result, "t", "app", host(), "web", KNOWN) == ["app (t): a"]


@pytest.mark.parametrize(
    ("reference", "source", "phrase"),
    [
        ("registry.example.com/webapp:1.4.2", "registry", None),
        ("registry.example.com:5000/team/webapp@sha256:" + "a" * 64, "registry", None),
        ("webapp:local", "archive", None),
        ("webapp", "archive", None),
        ("Registry.example.com/webapp:1", "registry", None),  # a host name may have capitals
        ("registry.example.com/WebApp:1.0", "registry", "lowercase: write 'registry.example.com/webapp:1.0'"),
        ("webapp", "registry", "no tag: Docker reads it as :latest"),
        ("webapp:latest", "registry", "Pin an immutable tag (e.g. webapp:1.4.2)"),
        ("webapp:1.0 ", "registry", "holds white space"),
        ("webapp:-x", "archive", "is not a tag"),
        ("webapp@sha256:abc", "registry", "is not a digest"),
        ("", "archive", "is empty"),
        ("web__app-/x:1", "registry", "is not a repository path component"),
    ],
)
def test_image_references(reference, source, phrase):
    found = images.app_image_reference_problems(reference, source, "app_image")
    if phrase is None:
        assert found == []
    else:
        assert any(phrase in problem for problem in found), found
        assert all(problem.startswith("app_image") for problem in found)


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ([8000], None),
        ([80, 443], None),
        ([], None),
        (["8080"], None),
        ([70000], "70000 is not between 1 and 65535"),
        ([0], "0 is not between 1 and 65535"),
        ([22], "22 is SSH"),
        ([8000, 8000], "8000 is listed twice"),
        (["http"], "'http' is not a port number"),
        ([True], "True is not a port number"),
        (8000, "must be a list of ports"),
    ],
)
def test_app_ports(value, phrase):
    found = ports.ec2_instance_port_problems(value)
    assert found == [] if phrase is None else any(phrase in problem for problem in found), found


@pytest.mark.parametrize(
    ("opened", "host_vars", "phrase"),
    [
        ([8000], {}, None),  # the app role's default app_publish, 8000:8000
        ([80, 443], {"app_domain": "app.example.com"}, None),
        ([8000], {"app_domain": "app.example.com"}, "set ec2_instance_app_ports: [80, 443] (got [8000])"),
        ([80, 443, 8000], {"app_domain": "app.example.com"}, "set ec2_instance_app_ports: [80, 443]"),
        ([8000], {"app_publish": "9000:8000"}, "plain HTTP on port 9000 (app_publish)"),
        ([8000], {"app_publish": "127.0.0.1:9000:8000"}, None),  # bound to loopback: not through the group
        ([9000], {"app_publish": "0.0.0.0:9000:8000"}, None),
    ],
)
def test_the_group_opens_what_each_host_serves(opened, host_vars, phrase):
    found = ports.ec2_instance_serving_problems(opened, {"web": host_vars}, ["web"])
    if phrase is None:
        assert found == []
    else:
        assert len(found) == 1 and phrase in found[0] and found[0].startswith("web ")
