"""Running transactions: under the lock, after finishing whatever an earlier run left unfinished.

On a systemd host a deploy, rollback or restore runs in its own transient unit (systemd-run), not as
a child of the ssh session that asked for it: the controller may die, the connection drop, and the
transaction still completes. systemd restarts the unit if the program itself is killed
(Restart=on-abnormal), and webappctl-recover.service finishes it at boot. The command the playbook
runs launches the unit and follows its journal, printing each step, then the outcome as JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import converged, docker, journal, plan, proxy
from .config import Config
from .journal import TERMINAL, Journal, Txn
from .lock import Lock, LockBusy
from .swap import Swap

EXIT = {"committed": 0, "unchanged": 0, "failed": 1, "running": 1, "refused": 2, "undone": 3}


def say(message: str) -> None:
    print(f"webappctl: {message}", file=sys.stderr, flush=True)


def outcome(txn: Txn) -> dict[str, Any]:
    data = txn.data
    state = txn.state
    message = data.get("message") or txn.facts.get("message") or ""
    return {
        "txn": txn.id,
        "kind": txn.kind,
        "state": state,
        "changed": state in ("committed", "undone", "failed", "running"),
        "message": message,
        "notes": data.get("notes", []),
        "result": data.get("result", {}),
    }


def _record(
    jr: Journal, txn_id: str, kind: str, owner: str, state: str, message: str, notes: list[str]
) -> Txn:
    """A transaction that ended before it began (refused, nothing to do): written, never active."""
    jr.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    txn = Txn(
        jr.path(txn_id),
        {"id": txn_id, "kind": kind, "owner": owner, "created": journal.now(), "notes": notes},
    )
    txn.finish(state, message)
    return txn


def finish_unfinished(cfg: Config, jr: Journal, lock: Lock) -> Txn | None:
    """Resume the transaction an earlier run left (its process is gone: we hold the lock)."""
    left = jr.active()
    if left is None:
        return None
    steps = [entry["step"] for entry in left.data.get("steps", [])]
    say(
        f"finishing the {left.kind} {left.id} by {left.data.get('owner')} left after step "
        f"{steps[-1] if steps else 'none'}"
    )
    Swap(cfg, left, lock, lambda step: say(f"{left.kind} {left.id}: {step}")).run()
    if left.state in TERMINAL:
        jr.clear()
    return left


def ensure_upstream(cfg: Config) -> str | None:
    """With no transaction open, the proxy must name the running release (a hold left by a run killed
    between the hold and the journal's first write, say)."""
    if cfg.proxy is None:
        return None
    info = docker.inspect("container", cfg.container.name) or {}
    alias = (info.get("Config", {}).get("Labels") or {}).get("webappctl.alias")
    if alias and (info.get("State") or {}).get("Running") and proxy.current(cfg) != alias:
        proxy.point(cfg, alias)
        return f"pointed the proxy back at the running release ({alias})"
    return None


def execute(cfg: Config, txn_id: str, kind: str, params: dict[str, Any], owner: str) -> Txn:
    jr = Journal(cfg.txn_dir)
    if not cfg.releases.is_dir():
        if kind != "deploy":
            return _record(
                jr if cfg.releases.parent.is_dir() else Journal(Path("/run/webappctl")),
                txn_id, kind, owner, "refused",
                f"the app was never deployed here (no {cfg.releases}): run playbooks/deploy.yml (or "
                "site.yml) first. "
                "Nothing was changed.", [],
            )  # fmt: skip
        cfg.releases.mkdir(mode=0o755, parents=True)
    lock = Lock(cfg.releases, kind, owner, cfg.lock_lease)
    try:
        lock.acquire(float(params.get("wait", cfg.lock_wait)))
    except LockBusy as exc:
        return _record(jr, txn_id, kind, owner, "refused", f"Not run: {exc}", [])
    try:
        existing = jr.load(txn_id)
        if existing is not None and existing.state in TERMINAL:
            return existing
        if existing is None:
            left = finish_unfinished(cfg, jr, lock)
            if left is not None and left.state not in TERMINAL:
                return _record(
                    jr, txn_id, kind, owner, "refused",
                    f"the unfinished {left.kind} {left.id} could not be finished: "
                    f"{left.facts.get('message')}",
                    lock.notes,
                )  # fmt: skip
            try:
                args = _plan(cfg, kind, params, txn_id)
            except plan.Refused as exc:
                return _record(jr, txn_id, kind, owner, "refused", f"Not run: {exc}", lock.notes)
            except plan.Unchanged as exc:
                if kind == "deploy" and params.get("digest"):
                    converged.record(cfg, str(params["digest"]))
                return _record(jr, txn_id, kind, owner, "unchanged", str(exc), lock.notes)
            args["digest"] = params.get("digest", "")
            existing = jr.create(kind, args, owner, txn_id)
            existing.data["notes"] = lock.notes
        Swap(cfg, existing, lock, lambda step: say(f"{kind} {txn_id}: {step}")).run()
        if existing.state in TERMINAL:
            jr.clear()
        return existing
    finally:
        lock.release()


def _plan(cfg: Config, kind: str, params: dict[str, Any], txn_id: str) -> dict[str, Any]:
    if kind == "deploy":
        copy = (
            (str(params["copy_from"]), float(params.get("max_pause", 25)))
            if params.get("copy_from")
            else None
        )
        return plan.deploy(cfg, params["image"], Path(params["settings"]), txn_id, copy)
    if kind == "rollback":
        return plan.rollback(cfg, bool(params.get("restore_database")), txn_id, params.get("host", ""))
    if kind == "restore":
        return plan.restore(cfg, Path(params["file"]), params.get("label", ""), txn_id)
    raise ValueError(f"unknown transaction kind {kind}")


def recover(cfg: Config, owner: str) -> dict[str, Any]:
    if not cfg.releases.is_dir():
        return {"state": "unchanged", "changed": False, "message": "never deployed here: nothing to recover"}
    jr = Journal(cfg.txn_dir)
    with Lock(cfg.releases, "recover", owner, cfg.lock_lease) as lock:
        lock.acquire(cfg.lock_wait)
        left = finish_unfinished(cfg, jr, lock)
        fixed = ensure_upstream(cfg)
    if left is not None:
        result = outcome(left)
        result["notes"] = lock.notes + ([fixed] if fixed else [])
        return result
    notes = lock.notes + ([fixed] if fixed else [])
    return {"state": "unchanged", "changed": bool(notes), "message": "nothing unfinished", "notes": notes}


# --- running in a transient unit, followed from the command the playbook runs -----------------------------
def systemd_available() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemd-run") is not None


def launch(cfg: Config, kind: str, params: dict[str, Any], owner: str, foreground: bool) -> dict[str, Any]:
    txn_id = journal.new_id()
    if foreground or not systemd_available():
        return outcome(execute(cfg, txn_id, kind, params, owner))
    unit = f"webappctl-{txn_id}"
    env = {"WEBAPPCTL_UNIT": unit}
    env.update({k: v for k, v in os.environ.items() if k in ("WEBAPPCTL_CONFIG_DIR", "WEBAPPCTL_FAULT_FILE")})
    cmd = [
        "systemd-run",
        "--unit",
        unit,
        "--quiet",
        "--collect",
        "--description",
        f"webappctl {kind} {txn_id}",
    ]
    cmd += ["-p", "Restart=on-abnormal", "-p", "RestartSec=1"]
    cmd += [arg for key, value in env.items() for arg in ("--setenv", f"{key}={value}")]
    cmd += [sys.executable, os.path.abspath(sys.argv[0]), "exec", "--txn-id", txn_id, "--kind", kind]
    cmd += ["--params", json.dumps(params), "--owner", owner]
    started = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise RuntimeError(f"systemd-run failed: {started.stderr.strip()}")
    return follow(cfg, txn_id, unit)


def _unit_state(unit: str) -> str:
    proc = subprocess.run(
        ["systemctl", "show", "--property", "ActiveState", "--value", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "unknown"


def follow(cfg: Config, txn_id: str, unit: str) -> dict[str, Any]:
    jr = Journal(cfg.txn_dir)
    shown, gone_since, next_check = 0, None, 0.0
    while True:
        txn = jr.load(txn_id)
        if txn is not None:
            steps = txn.data.get("steps", [])
            for entry in steps[shown:]:
                say(f"{txn.kind} {txn_id}: {entry['step']} done")
            shown = len(steps)
            if txn.state in TERMINAL or txn.facts.get("incomplete"):
                return outcome(txn)
        now = time.monotonic()
        if now >= next_check:
            next_check = now + 1
            state = _unit_state(unit)
            if state in ("inactive", "failed", "unknown"):
                gone_since = gone_since or now
                if now - gone_since > 5:
                    txn = jr.load(txn_id)
                    if txn is not None and txn.state in TERMINAL:
                        continue
                    return {
                        "txn": txn_id,
                        "state": "running",
                        "changed": True,
                        "message": f"the transaction's process ended without finishing it (unit {unit} is "
                        "{state}); "
                        "the next playbook run or the boot unit finishes it (or run `webappctl recover` on "
                        "the host)",
                        "notes": [],
                    }
            else:
                gone_since = None
        time.sleep(0.2)
