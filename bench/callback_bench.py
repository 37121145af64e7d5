"""Cost of the redacted stdout callback: one 300-task play run with Ansible's default callback and with
the project's (ansible.cfg), alternately, in one run; prints the overhead (bar: under 5 %).

    python bench/callback_bench.py [--rounds N]

The play runs on localhost (local connection) with a vaulted group_vars file, an inline !vault value
and secret-named settings loaded, like the project's inventories: 150 debug tasks (a third of them
print a secret), 100 set_fact and 50 command tasks, so output is formatted and redacted for every
result. Both callbacks write to a log file (ANSIBLE_LOG_PATH). Each round runs the two at the same
time, so whatever else loads this shared machine loads both alike; the overhead is the median over
rounds of the per-round ratio, for wall time (the bar), the CPU time of each run's processes, and
the CPU time of its controller process alone (where the callback runs; the workers' module runs are
the noisy bulk). Exits 1 if the median wall-time overhead is 5 % or more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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
    """One play with callback: wall time, CPU time of its process tree, CPU time of the controller."""
    cpu_file = work / f"{callback}.controller-cpu"
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
    start = time.perf_counter()
    with open(work / f"{callback}.out", "w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        # The rusage of one child, its reaped workers included (the two runs overlap in time).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"callback bench: the play failed with {callback}; see {work / f'{callback}.out'}")
    return wall, usage.ru_utime + usage.ru_stime, float(cpu_file.read_text())


def side_by_side(work: Path, play: Path) -> dict[str, tuple[float, float, float]]:
    """Both callbacks at the same time: whatever else loads the machine loads both alike."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {callback: pool.submit(run, work, play, callback) for callback in ("default", "redacted")}
        return {callback: future.result() for callback, future in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="h16-callback-bench-") as tmp:
        work = Path(tmp)
        play = build(work)
        side_by_side(work, play)  # warm the caches (bytecode, page cache) for both
        rounds_run = [side_by_side(work, play) for _ in range(rounds)]
        redacted_output = (work / "redacted.out").read_text() + (work / "redacted.log").read_text()
        if SECRET in redacted_output or "[REDACTED]" not in redacted_output:
            sys.exit("callback bench: the redacted run did not redact; the comparison would be meaningless")
    print(f"300-task play, {rounds} rounds of both callbacks side by side (default -> redacted, medians):")
    overheads = {}
    for index, measure in enumerate(MEASURES):
        base = statistics.median(pair["default"][index] for pair in rounds_run)
        redacted = statistics.median(pair["redacted"][index] for pair in rounds_run)
        ratios = sorted(pair["redacted"][index] / pair["default"][index] - 1 for pair in rounds_run)
        overheads[measure] = statistics.median(ratios)
        spread = f"rounds {ratios[0]:+.1%} .. {ratios[-1]:+.1%}"
        change = f"{base:6.2f} s -> {redacted:6.2f} s"
        print(f"  {measure:19} {change}  overhead {overheads[measure]:+.1%}  ({spread}; bar: < 5 %)")
    return 0 if overheads["wall"] < BAR else 1


if __name__ == "__main__":
    raise SystemExit(main())
