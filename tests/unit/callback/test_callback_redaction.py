"""The redacted stdout callback, the project default, in real ansible-playbook runs: plays that print
secrets in every way (tests/unit/callback/project/leaky.yml) show none of them, on the screen or in the
log file, at any verbosity, with --diff, --check and JSON results; what is not secret still shows;
without secrets in the output it prints exactly what the default callback prints."""

from __future__ import annotations

import base64
import inspect
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from urllib.parse import quote, quote_plus

import pytest
from ansible.executor.task_result import CallbackTaskResult
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

REPO = Path(__file__).resolve().parents[3]
PROJECT = Path(__file__).with_name("project")
BIN = Path(sys.executable).parent

PEM = """-----BEGIN TEST KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASC
BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj
-----END TEST KEY-----
"""
PASSPHRASE = "correct horse battery staple zq3f9a7b1c"
# Every secret of the test project, by where it comes from.
SECRETS = {
    "vaulted group_vars file": "File-s3cret-7c1e",
    "vaulted file, multi-line": PEM,
    "vaulted file, with spaces": PASSPHRASE,
    "inline !vault in group_vars": "Inline-s3cret-9a4f",
    "inline !vault in play vars": 'Quo"te\\d-wörd-5b2e',
    "inline !vault in task vars": "Task-s3cret-8b7d",
    "secret name, no vault": "plain-token-3d8a",
    "vaulted file from include_vars": "Runtime-s3cret-6f0b",
    "vaulted extra vars file": "Extra-s3cret-1e5c",
    "secret-named set_fact": "Fact-s3cret-2c9e",
    "vaulted group_vars of a host added by add_host": "Added-s3cret-4d2a",
}
# Shown next to the secrets and not secret (a reference to a key, a flag, a short value, a public key).
NEIGHBOURS = [
    "LOG_LEVEL=info PORT=8000",
    "key name webapp-h16-keyname",
    "flag true short abc",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH16publicpart",
    "plain-item",
]


def printed_forms(secret: str) -> set[str]:
    """How each secret would read if it leaked (written out here, not taken from the code under test)."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"user:{secret}:tail".encode()).decode(),
    }
    lines = secret.strip().splitlines()
    forms |= {line for line in lines if len(line) >= 16} | {"\\n".join(lines)}
    return {form for form in forms if len(form) >= 8}


FORBIDDEN = {form: source for source, secret in SECRETS.items() for form in printed_forms(secret)}
# YAML output folds a long line at a space, so the passphrase can show split over two lines: its
# last word alone must not show either.
FORBIDDEN["zq3f9a7b1c"] = "vaulted file, with spaces"


@dataclass(frozen=True)
class Run:
    output: str
    log: str
    returncode: int


RUNS = {
    "default verbosity, --diff": (["--diff"], {}),
    "-vvv --diff": (["-vvv", "--diff"], {"ANSIBLE_SHOW_CUSTOM_STATS": "1"}),
    "--check --diff": (["--check", "--diff"], {}),
    "JSON results, -v --diff": (["-v", "--diff"], {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}),
}
# The same plays printed by Ansible's own default callback: they must leak, or this test proves nothing.
CONTROL = (["-vvv", "--diff"], {"ANSIBLE_STDOUT_CALLBACK": "default", "ANSIBLE_SHOW_CUSTOM_STATS": "1"})


def play(playbook: str, work: Path, args: list[str], env: dict[str, str], port: int) -> Run:
    work.mkdir(parents=True)
    log = work / "ansible.log"
    command = [
        str(BIN / "ansible-playbook"), "-i", str(PROJECT / "inventory"),
        "--vault-password-file", str(PROJECT / "vault-password"), "-e", f"@{PROJECT / 'extra-vault.yml'}",
        "-e", f"work_dir={work}", "-e", f"refused_port={port}",
        "-e", f"ansible_python_interpreter={sys.executable}", *args, str(PROJECT / playbook),
    ]  # fmt: skip
    environ = {
        **os.environ,
        # The project's ansible.cfg: the callback under test is its default.
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOG_PATH": str(log),
        "ANSIBLE_NOCOLOR": "1",
        **env,
    }
    result = subprocess.run(
        command, cwd=work, env=environ, capture_output=True, text=True, timeout=300, check=False
    )
    return Run(result.stdout + result.stderr, log.read_text() if log.exists() else "", result.returncode)


@pytest.fixture(scope="module")
def refused_port():
    # Bound and never listening: a connection to it is refused at once, and nobody else can take it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, refused_port) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("leaky")
    cases = {**RUNS, "control": CONTROL}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(play, "leaky.yml", base / f"run{index}", args, env, refused_port)
            for index, (name, (args, env)) in enumerate(cases.items())
        }
        return {name: future.result() for name, future in futures.items()}


def leaks(text: str) -> list[str]:
    return sorted({f"{source}: {form!r}" for form, source in FORBIDDEN.items() if form in text})


def test_the_plays_print_every_secret_without_the_callback(runs):
    control = runs["control"]
    assert control.returncode == 0, control.output[-3000:]
    shown = {source for form, source in FORBIDDEN.items() if form in control.output}
    assert shown == set(SECRETS), f"not printed by the plays: {set(SECRETS) - shown}"
    # The default folds the passphrase's line: a search of the printed text alone would miss it.
    assert "battery staple\n        zq3f9a7b1c" in control.output


@pytest.mark.parametrize("name", RUNS)
def test_no_secret_reaches_the_output(runs, name):
    run = runs[name]
    assert run.returncode == 0, run.output[-3000:]
    assert "[REDACTED]" in run.output
    assert not leaks(run.output)


@pytest.mark.parametrize("name", RUNS)
def test_the_log_file_holds_only_redacted_text(runs, name):
    run = runs[name]
    assert "TASK [Debug the vaulted variable]" in run.log, "the log did not capture the run"
    assert "[REDACTED]" in run.log
    assert not leaks(run.log)


@pytest.mark.parametrize("name", RUNS)
def test_what_is_not_secret_still_shows(runs, name):
    run = runs[name]
    assert [text for text in NEIGHBOURS if text not in run.output] == []
    assert [text for text in NEIGHBOURS if text not in run.log] == []


def test_each_way_of_printing_was_redacted_where_it_printed(runs):
    # Where the secret was, the marker now is: the tasks ran and printed, they were not skipped.
    output = runs["-vvv --diff"].output
    for shown in (
        "vault_app_secret_key: '[REDACTED]'",
        "DATABASE_URL: postgresql://app:[REDACTED]@db.example/app",
        "+SECRET_KEY=[REDACTED]",
        "key=[REDACTED] token=[REDACTED]",
        "(item=db=[REDACTED])",
        "cannot connect with [REDACTED] to postgresql://app:[REDACTED]@db.example/app",
        "vault_runtime_secret: '[REDACTED]'",
        "msg: '[REDACTED] [REDACTED]'",
        "task_secret: '[REDACTED]'",
        "deploy_note: signed with [REDACTED], level info",
        "[WARNING]: Skipped '/nonexistent-h16/[REDACTED]' path",
    ):
        assert shown in output


def _normalised(text: str, work: Path) -> str:
    # Each run writes in its own directory, and diff headers name a temporary copy of the source.
    return re.sub(r"/\S*/\.ansible/tmp/\S+", "<tmp>", text.replace(str(work), "<work>"))


@pytest.mark.parametrize("args", [["--diff"], ["-vv", "--diff"], ["--check", "--diff"]])
def test_output_is_the_default_callback_s_when_nothing_printed_is_secret(tmp_path, refused_port, args):
    colour = {"ANSIBLE_NOCOLOR": "0", "ANSIBLE_FORCE_COLOR": "1"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        default_run = pool.submit(
            play,
            "plain.yml",
            tmp_path / "default",
            args,
            {**colour, "ANSIBLE_STDOUT_CALLBACK": "default"},
            refused_port,
        )
        redacted_run = pool.submit(play, "plain.yml", tmp_path / "redacted", args, colour, refused_port)
        default, redacted = default_run.result(), redacted_run.result()
    assert default.returncode == redacted.returncode == 0, redacted.output[-3000:]
    assert "\x1b[" in redacted.output, "colours were not forced"
    assert "[WARNING]: Skipped '/nonexistent-h16/plain'" in redacted.output
    assert "[DEPRECATION WARNING]: Conditionals should not be surrounded" in redacted.output
    # -vv prints the callback's own name and path: the one line that may differ.
    lines = [
        [line for line in _normalised(run.output, tmp_path / name).splitlines() if "callback" not in line]
        for name, run in (("default", default), ("redacted", redacted))
    ]
    assert lines[0] == lines[1]


def test_every_event_that_prints_a_task_result_gets_a_redacted_copy():
    from plugins.callback.redacted import _FINAL_EVENTS, _RESULT_EVENTS

    takes_a_result = {
        name
        for name, method in vars(DefaultCallback).items()
        if name.startswith("v2_")
        and any(
            p.annotation in (CallbackTaskResult, "CallbackTaskResult")
            for p in inspect.signature(method).parameters.values()
        )
    }
    assert takes_a_result == set(_RESULT_EVENTS + _FINAL_EVENTS)


def test_ansible_doc_reads_the_callback_documentation():
    result = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "callback", "--json", "redacted"],
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and "ERROR" not in result.stderr, result.stderr
    doc = json.loads(result.stdout)["redacted"]["doc"]
    assert doc["type"] == "stdout"
    # The default's options, from the shared fragments: ansible.cfg's callback_result_format applies.
    assert {"result_format", "display_skipped_hosts", "show_per_host_start"} <= set(doc["options"])


def test_a_private_prompt_answer_is_redacted(tmp_path):
    # Ansible prompts only on a terminal. getpass discards typed-ahead input before it shows the
    # prompt, so each answer is typed once its prompt is on the screen.
    answers = [(b"Admin PIN: ", b"Prompt-s3cret-5a1c\r"), (b"Comment: ", b"second try\r")]
    controller, terminal = pty.openpty()
    command = [
        str(BIN / "ansible-playbook"), "-i", str(PROJECT / "inventory"),
        "--vault-password-file", str(PROJECT / "vault-password"), str(PROJECT / "prompt.yml"),
    ]  # fmt: skip
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOG_PATH": str(tmp_path / "log"),
    }
    process = subprocess.Popen(
        command,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    os.close(terminal)
    screen, deadline = b"", monotonic() + 120  # a bound against a hang, not a timing assumption
    try:
        while monotonic() < deadline:
            if not select.select([controller], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the play ended and closed the terminal
                break
            screen += chunk
            if answers and answers[0][0] in screen:
                os.write(controller, answers.pop(0)[1])
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        os.close(controller)
    output = screen.decode(errors="replace") + (tmp_path / "log").read_text()
    assert process.returncode == 0, output[-3000:]
    assert "pin [REDACTED], comment second try" in output
    assert "Prompt-s3cret-5a1c" not in output
