"""Cost of the redacted stdout callback: one 300-task play run with Ansible's default callback and with
the project's (ansible.cfg), alternately, in one run; prints the overhead (bar: under 5 %).

    python bench/callback_bench.py [--rounds N]

The play runs on localhost (local connection) with a vaulted group_vars file, an inline !vault value
and secret-named settings loaded, like the project's inventories: 150 debug tasks (a third of them
print a secret), 100 set_fact and 50 command tasks, so output is formatted and redacted for every
result. Both callbacks write to a log file (ANSIBLE_LOG_PATH). Compared as medians over the rounds
(rounds alternate which callback goes first): wall time (the bar), the CPU time of all processes,
and the CPU time of the controller process alone, where the callback runs and which is far less
noisy than the workers. Exits 1 if the median wall-time overhead is 5 % or more.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BAR = 0.05
SECRET = "bench-Vault-s3cret-5e1f"  # noqa: S105 - a test value, printed on purpose


DEBUG = '    - name: Debug {index}\n      ansible.builtin.debug:\n        msg: "{msg}"\n'
MSG_SETTINGS = "{{ app_env }}"
MSG_PLAIN = "step {index} at level {{{{ app_env.LOG_LEVEL }}}}"
FACT = "    - name: Fact {index}\n      ansible.builtin.set_fact:\n        bench_fact_{index}: {index}\n"
COMMAND = (
    "    - name: Command {index}\n      ansible.builtin.command: echo {index}\n      changed_when: false\n"
)


def build(work: Path) -> Path:
    password = work / "vault-password"
    password.write_text("bench-vault-password\n")
    group_vars = work / "inventory" / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    (work / "inventory" / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
    )
    vault = group_vars / "vault.yml"
    vault.write_text(f"vault_app_secret_key: {SECRET}\nvault_db_password: bench-db-pw-77aa\n")
    vault_cli = [str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password), str(vault)]
    subprocess.run(vault_cli, check=True, capture_output=True)
    inline = subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(password),
         "--name", "vault_api_token", "bench-inline-token-9c3d"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (group_vars / "vars.yml").write_text(
        "app_env:\n  SECRET_KEY: '{{ vault_app_secret_key }}'\n"
        "  DATABASE_URL: 'postgresql://app:{{ vault_db_password }}@db/app'\n  LOG_LEVEL: info\n"
        "app_api_token: bench-plain-token-41b2\n" + inline
    )
    tasks = [
        DEBUG.format(index=i, msg=MSG_SETTINGS if i % 3 == 0 else MSG_PLAIN.format(index=i))
        for i in range(150)
    ]
    tasks += [FACT.format(index=i) for i in range(100)]
    tasks += [COMMAND.format(index=i) for i in range(50)]
    play = work / "play.yml"
    play.write_text("- name: Bench\n  hosts: localhost\n  gather_facts: false\n  tasks:\n" + "".join(tasks))
    return play


# ansible-playbook in this interpreter, reporting the CPU time of its own process when it ends: the
# controller, where every callback runs; its forked workers (module runs, the bulk of the noise) exit
# without running atexit hooks.
CONTROLLER = """
import atexit, os, resource, runpy, sys
pid = os.getpid()
def report():
    if os.getpid() == pid:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(os.environ["CALLBACK_BENCH_CPU"], "w") as out:
            out.write(str(usage.ru_utime + usage.ru_stime))
atexit.register(report)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
MEASURES = ("wall", "cpu, all processes", "cpu, controller")


def run(work: Path, play: Path, callback: str) -> tuple[float, float, float]:
    cpu_file = work / "controller-cpu"
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": callback,
        "ANSIBLE_LOG_PATH": str(work / f"{callback}.log"),
        "ANSIBLE_NOCOLOR": "1",
        "CALLBACK_BENCH_CPU": str(cpu_file),
    }
    command = [sys.executable, "-c", CONTROLLER, str(BIN / "ansible-playbook"), "-i", str(work / "inventory"),
               "--vault-password-file", str(work / "vault-password"),
               "-e", f"ansible_python_interpreter={sys.executable}", str(play)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(work / f"{callback}.out", "w") as output:
        result = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"callback bench: the play failed with {callback}; see {work / f'{callback}.out'}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, float(cpu_file.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="h16-callback-bench-") as tmp:
        work = Path(tmp)
        play = build(work)
        times: dict[str, list[tuple[float, float, float]]] = {"default": [], "redacted": []}
        run(work, play, "redacted")  # warm the caches (bytecode, page cache) for both
        for index in range(rounds):
            order = ["default", "redacted"] if index % 2 == 0 else ["redacted", "default"]
            for callback in order:
                times[callback].append(run(work, play, callback))
        redacted_output = (work / "redacted.out").read_text() + (work / "redacted.log").read_text()
        if SECRET in redacted_output or "[REDACTED]" not in redacted_output:
            sys.exit("callback bench: the redacted run did not redact; the comparison would be meaningless")
    print(f"300-task play, {rounds} rounds, medians (default -> redacted):")
    overheads = {}
    for index, measure in enumerate(MEASURES):
        base = statistics.median(sample[index] for sample in times["default"])
        redacted = statistics.median(sample[index] for sample in times["redacted"])
        overheads[measure] = redacted / base - 1
        change = f"{base:7.2f} s -> {redacted:7.2f} s"
        print(f"  {measure:19} {change}   overhead {overheads[measure]:+.1%}  (bar: < 5 %)")
    return 0 if overheads["wall"] < BAR else 1


if __name__ == "__main__":
    raise SystemExit(main())
