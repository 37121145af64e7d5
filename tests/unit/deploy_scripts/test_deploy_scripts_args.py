"""deploy/*.sh before anything runs: --help, every argument error, a missing tool, a dirty tree.
Each runs in a copy of the checkout with recording stand-ins for the tools that act
(scripts_sandbox.py): an error must leave the record empty. The positive cases show the stand-ins
do record (the exact ansible-playbook command line) and that the playbook's exit status comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scripts_sandbox import Sandbox, bare_dir, copy_checkout, spy_dir

PLAYBOOK_SCRIPTS = {
    # script: (its arguments besides the options, the playbooks it runs)
    "setup-ec2.sh": ((), ("provision.yml", "configure.yml")),
    "update.sh": (("webapp:1.4.2",), ("deploy.yml",)),
    "backup.sh": ((), ("provision.yml", "backup.yml")),
}
EX_USAGE, EX_UNAVAILABLE = 64, 69


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    work = tmp_path_factory.mktemp("deploy-scripts")
    root = copy_checkout(work / "checkout")
    box = Sandbox(root, spy_dir(work / "spies"), work / "calls.log")
    (work / "vault-pass").write_text("not-a-real-password\n")
    yield box


@pytest.fixture(scope="module")
def vault_file(sandbox: Sandbox) -> str:
    return str(sandbox.root.parent / "vault-pass")


@pytest.fixture(scope="module")
def inventory(sandbox: Sandbox) -> str:
    return str(sandbox.root / "inventory" / "production")


@pytest.fixture(scope="module")
def target(inventory: str, vault_file: str) -> tuple[str, ...]:
    """Options that make a run against an inventory acceptable."""
    return ("-i", inventory, "--vault-password-file", vault_file)


def refused(result, code: int, words: str) -> None:
    """Refused with `code`, saying `words`, and nothing ran."""
    assert result.rc == code, (result.rc, result.stderr)
    assert words in result.stderr, result.stderr
    assert result.calls == [], f"ran although refused: {result.calls}"


# --- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", [*PLAYBOOK_SCRIPTS, "build.sh"])
def test_help_prints_the_usage_and_runs_nothing(sandbox, script):
    for flag in ("--help", "-h"):
        result = sandbox.run(script, flag)
        assert result.rc == 0, result.stderr
        assert f"deploy/{script}" in result.stdout and "Exit status" in result.stdout
        assert result.calls == []


@pytest.mark.parametrize("script", PLAYBOOK_SCRIPTS)
def test_help_lists_the_common_options(sandbox, script):
    out = sandbox.run(script, "--help").stdout
    options = (
        "-i, --inventory INVENTORY",
        "--local",
        "--vault-password-file FILE",
        "--ask-vault-pass",
        "-- ARGS",
    )
    for option in options:
        assert option in out, option
    assert "REHEARSAL_SSH_PORT" in out


def test_build_help_names_its_options(sandbox):
    out = sandbox.run("build.sh", "--help").stdout
    assert "--allow-dirty" in out and "NAME:TAG" in out


# --- argument errors (nothing runs) ----------------------------------------------------------------


@pytest.mark.parametrize("script", [*PLAYBOOK_SCRIPTS, "build.sh"])
def test_unknown_option_is_refused(sandbox, script):
    refused(sandbox.run(script, "--frobnicate"), EX_USAGE, "unknown option --frobnicate")


@pytest.mark.parametrize("script", PLAYBOOK_SCRIPTS)
def test_inventory_option_errors_are_refused(sandbox, script, vault_file):
    args, _ = PLAYBOOK_SCRIPTS[script]
    refused(sandbox.run(script, *args, "-i"), EX_USAGE, "-i needs an inventory")
    refused(
        sandbox.run(script, "-i", "/nonexistent/inventory", "--vault-password-file", vault_file, *args),
        EX_USAGE,
        "inventory /nonexistent/inventory does not exist",
    )
    refused(
        sandbox.run(script, "--local", "-i", "inventory/production", *args),
        EX_USAGE,
        "give either --local or -i",
    )


@pytest.mark.parametrize("script", PLAYBOOK_SCRIPTS)
def test_vault_option_errors_are_refused(sandbox, script, vault_file, inventory):
    args, _ = PLAYBOOK_SCRIPTS[script]
    refused(
        sandbox.run(script, "-i", inventory, *args),
        EX_USAGE,
        "no vault password: give --vault-password-file FILE or --ask-vault-pass",
    )
    refused(
        sandbox.run(script, "-i", inventory, "--vault-password-file", "/nonexistent/pass", *args),
        EX_USAGE,
        "vault password file /nonexistent/pass is not a readable file",
    )
    refused(
        sandbox.run(script, "-i", inventory, "--vault-password-file", vault_file, "--ask-vault-pass", *args),
        EX_USAGE,
        "not both",
    )
    no_file = sandbox.run(script, *args, "--vault-password-file")
    refused(no_file, EX_USAGE, "--vault-password-file needs a file")
    refused(
        sandbox.run(script, "--local", "--ask-vault-pass", *args),
        EX_USAGE,
        "--local uses the rehearsal's vault password file",
    )


@pytest.mark.parametrize("script", ["setup-ec2.sh", "backup.sh"])
def test_stray_argument_is_refused(sandbox, script, vault_file, inventory):
    refused(
        sandbox.run(script, "-i", inventory, "--vault-password-file", vault_file, "webapp:1.4.2"),
        EX_USAGE,
        "unexpected argument webapp:1.4.2",
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "which image? give IMAGE as NAME:TAG"),
        (("1.4.2",), "IMAGE must be an image reference NAME:TAG"),
        (("webapp",), "IMAGE must be an image reference NAME:TAG"),
        (("Webapp:1.4.2",), "IMAGE must be an image reference NAME:TAG"),
        (("webapp:1.4.2", "webapp:1.4.3"), "unexpected argument webapp:1.4.3"),
    ],
)
def test_update_refuses_a_missing_or_malformed_image(sandbox, target, args, words):
    refused(sandbox.run("update.sh", *target, *args), EX_USAGE, words)


@pytest.mark.parametrize(("args", "words"), [(("1.4.2",), "NAME:TAG"), (("a:1", "b:2"), "one IMAGE only")])
def test_build_refuses_a_malformed_image(sandbox, args, words):
    refused(sandbox.run("build.sh", *args), EX_USAGE, words)


# --- missing tools (nothing runs) -------------------------------------------------------------------


@pytest.mark.parametrize("script", PLAYBOOK_SCRIPTS)
def test_missing_ansible_playbook_is_reported(sandbox, script, target, tmp_path):
    args, _ = PLAYBOOK_SCRIPTS[script]
    result = sandbox.run(script, *target, *args, path=str(bare_dir(tmp_path / "bin")))
    assert result.rc == EX_UNAVAILABLE, result.stderr
    assert "ansible-playbook is missing: run 'make venv'" in result.stderr


@pytest.mark.parametrize("script", PLAYBOOK_SCRIPTS)
def test_local_without_the_venv_is_reported(sandbox, script):
    # The copy has no .venv: the rehearsal's ansible-playbook and moto_server are not there.
    args = ("webapp:1.4.2",) if script == "update.sh" else ()
    refused(sandbox.run(script, "--local", *args), EX_UNAVAILABLE, "run 'make venv' first")


def test_build_without_pip_is_reported(sandbox):
    refused(sandbox.run("build.sh", "webapp:h15-x"), EX_UNAVAILABLE, "run 'make venv' first (or set PIP)")


def test_build_refuses_a_dirty_tree(sandbox, tmp_path):
    dirty = Sandbox(copy_checkout(tmp_path / "dirty"), sandbox.spies, sandbox.log)
    readme = dirty.root / "README.md"
    readme.write_text(readme.read_text() + "\nan uncommitted line\n")
    pip = str(sandbox.spies / "pip")
    refused(dirty.run("build.sh", "webapp:h15-x", PIP=pip), EX_USAGE, "uncommitted changes")
    refused(dirty.run("build.sh", PIP=pip), EX_USAGE, "--allow-dirty")
    # told otherwise, it builds, and the default tag says the tree was dirty
    allowed = dirty.run("build.sh", "--allow-dirty", PIP=pip)
    assert allowed.rc == 0, allowed.stderr
    assert allowed.stdout == f"webapp:{dirty.revision()}-dirty\n"


# --- what runs when the arguments are right -----------------------------------------------------------


@pytest.mark.parametrize("script", PLAYBOOK_SCRIPTS)
def test_runs_its_playbooks_with_the_inventory_vault_and_extra_args(sandbox, script, target):
    args, books = PLAYBOOK_SCRIPTS[script]
    result = sandbox.run(script, *target, *args, "--", "-v", "--diff")
    assert result.rc == 0, result.stderr
    image = ["-e", f"app_image={args[0]}"] if args else []
    playbooks = [str(sandbox.root / "playbooks" / book) for book in books]
    assert result.ran("ansible-playbook") == [[*target, *playbooks, *image, "-v", "--diff"]]
    assert [call[0] for call in result.calls] == ["ansible-playbook"]


@pytest.mark.parametrize("script", PLAYBOOK_SCRIPTS)
def test_default_inventory_and_the_vault_password_from_the_environment(sandbox, script, vault_file):
    args, books = PLAYBOOK_SCRIPTS[script]
    result = sandbox.run(script, *args, ANSIBLE_VAULT_PASSWORD_FILE=vault_file)
    assert result.rc == 0, result.stderr
    (call,) = result.ran("ansible-playbook")
    assert call[:2] == ["-i", str(sandbox.root / "inventory" / "production")]
    assert "--vault-password-file" not in call and "--ask-vault-pass" not in call
    assert call[2] == str(sandbox.root / "playbooks" / books[0])


@pytest.mark.parametrize("script", PLAYBOOK_SCRIPTS)
def test_ask_vault_pass_is_passed_on(sandbox, script, inventory):
    args, _ = PLAYBOOK_SCRIPTS[script]
    (call,) = sandbox.run(script, "-i", inventory, "--ask-vault-pass", *args).ran("ansible-playbook")
    assert call[:3] == ["-i", inventory, "--ask-vault-pass"]


@pytest.mark.parametrize("script", PLAYBOOK_SCRIPTS)
@pytest.mark.parametrize("status", [2, 4])
def test_the_playbooks_exit_status_is_passed_through(sandbox, script, status, vault_file, inventory):
    args, _ = PLAYBOOK_SCRIPTS[script]
    result = sandbox.run(
        script,
        "-i",
        inventory,
        "--vault-password-file",
        vault_file,
        *args,
        SPY_FAIL="ansible-playbook",
        SPY_FAIL_RC=str(status),
    )
    assert result.rc == status
    assert f"(ansible-playbook exit {status})" in result.stderr
    assert len(result.ran("ansible-playbook")) == 1


def test_build_tags_with_the_revision_and_prints_only_the_tag(sandbox):
    result = sandbox.run("build.sh", PIP=str(sandbox.spies / "pip"))
    assert result.rc == 0, result.stderr
    tag = f"webapp:{sandbox.revision()}"
    assert result.stdout == f"{tag}\n"
    builds = [call for call in result.ran("docker") if call[:1] == ["build"]]
    assert len(builds) == 1 and builds[0][builds[0].index("-t") + 1] == tag
    assert builds[0][-1] == str(sandbox.root)


def test_build_takes_the_given_image_and_passes_a_failed_build_through(sandbox):
    pip = str(sandbox.spies / "pip")
    ok = sandbox.run("build.sh", "registry.example.com:5000/team/webapp:1.4.2", PIP=pip)
    assert ok.rc == 0 and ok.stdout == "registry.example.com:5000/team/webapp:1.4.2\n", ok.stderr
    failed = sandbox.run("build.sh", "webapp:h15-x", PIP=pip, SPY_FAIL="docker build", SPY_FAIL_RC="3")
    assert failed.rc == 3 and failed.stdout == ""
    assert "building webapp:h15-x failed (exit 3)" in failed.stderr


def test_sandbox_copy_has_no_venv(sandbox):
    # The cases above rely on it: the scripts then take the tools from PATH, where the stand-ins are.
    assert not Path(sandbox.root / ".venv").exists()
