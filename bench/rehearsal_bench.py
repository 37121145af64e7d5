"""Timings of the local rehearsal (scripts/rehearsal.sh), as ratios to a baseline measured in the same
run: a no-op play on the same host over the same SSH path (ansible's own floor).

  first run of site.yml      (provision + configure + deploy on a fresh host)
  idempotent re-run          (must report changed=0)
  deploy of a new image      (backup, stop-first swap, health gate)

Runs on its own names and ports (never touches `make demo`), and tears down what it made.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "REHEARSAL_NAME": "webapp-bench",
    "REHEARSAL_SSH_PORT": "2240",
    "REHEARSAL_APP_PORT": "18099",
    "REHEARSAL_MOTO_PORT": "15099",
}
CHANGED = re.compile(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", re.M)


def timed(*args: str, image: str = "webapp:local") -> tuple[float, list[int]]:
    start = time.monotonic()
    run = subprocess.run(
        [str(ROOT / "scripts/rehearsal.sh"), *args],
        env={**ENV, "REHEARSAL_IMAGE": image},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - start
    if run.returncode != 0:
        sys.exit(f"rehearsal {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}")
    return elapsed, [int(n) for n in CHANGED.findall(run.stdout)]


def main() -> int:
    subprocess.run([str(ROOT / "scripts/build-image.sh"), "webapp:local"], check=True)
    subprocess.run(
        [str(ROOT / "scripts/build-image.sh"), "webapp:bench-next"],
        env={**os.environ, "VERSION": f"bench-{int(time.time())}"},
        check=True,
    )
    try:
        first, _ = timed("up")
        floor, _ = timed("play", str(ROOT / "bench/noop.yml"))
        rerun, changed = timed("up")
        deploy, _ = timed("play", str(ROOT / "playbooks/deploy.yml"), image="webapp:bench-next")
    finally:
        down = [str(ROOT / "scripts/rehearsal.sh"), "down"]
        subprocess.run(down, env=ENV, capture_output=True, check=False)
    print(f"baseline: provision.yml + no-op play        {floor:7.1f} s   1.00")
    print(f"site.yml, first run on a fresh host        {first:7.1f} s   {first / floor:5.2f}x")
    print(f"site.yml, idempotent re-run (changed={sum(changed)})  {rerun:7.1f} s   {rerun / floor:5.2f}x")
    print(f"provision.yml + deploy.yml, new image       {deploy:7.1f} s   {deploy / floor:5.2f}x")
    if sum(changed):
        print("bench: the re-run changed something; it must not", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
