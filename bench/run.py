"""`make bench`: run every benchmark in bench/ one after the other; fail if any fails.

Each benchmark prints ratios against a baseline measured in the same run (machines are noisy).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["app_bench.py", "rehearsal_bench.py", "swap_bench.py", "callback_bench.py"]


def main() -> int:
    failed = []
    for bench in BENCHES:
        print(f"== {bench}", flush=True)
        if subprocess.run([sys.executable, str(HERE / bench), *sys.argv[1:]], check=False).returncode != 0:
            failed.append(bench)
    if failed:
        print("bench: failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
