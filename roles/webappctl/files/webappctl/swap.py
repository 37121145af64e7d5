"""The swap of one release for another, as one journaled transaction over image and database.

Forward: prepare the incoming container (created, not started) -> hold new requests in the proxy ->
stop the outgoing release (its in-flight requests finish) -> clone the database it leaves behind
(constant time on XFS) -> put a requested database in place (rollback, restore) -> start the incoming
release -> gate on its own /health -> point the proxy at it (held requests go there) -> rename,
verify the clone into a real backup, record the release pair, prune.

Any failure up to the switch is undone: the incoming container removed, the database put back from
the clone (the failed one set aside), the outgoing release started, gated and given the traffic
again. Every step is recorded in the journal once done; a run killed anywhere resumes at the step
it was in, and every step is safe to run twice."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import converged, dbfiles, dbtool, docker, faults, fsutil, health, messages, proxy, releases
from .config import Config
from .journal import Txn
from .lock import Lock

FORWARD = (
    "prepare",
    "hold",
    "stop_outgoing",
    "backup",
    "place_db",
    "start_incoming",
    "gate",
    "switch",
    "rename",
    "verify_backup",
    "record",
    "prune",
)
UNDOABLE = FORWARD[: FORWARD.index("switch") + 1]
UNDO = ("undo_capture", "undo_incoming", "undo_db", "undo_outgoing", "undo_proxy")
ERRORS = (health.GateFailed, docker.DockerError, dbtool.DbToolError, OSError)


class Swap:
    def __init__(self, cfg: Config, txn: Txn, lock: Lock, say: Callable[[str], None]) -> None:
        self.cfg, self.txn, self.lock, self.say = cfg, txn, lock, say
        self.args, self.facts = txn.args, txn.facts
        self.incoming = f"{cfg.container.name}-next"

    # --- driver ----------------------------------------------------------------------------------
    def run(self) -> Txn:
        if not self.facts.get("undoing"):
            for step in FORWARD:
                if self.txn.done(step):
                    continue
                began = self._enter(step)
                try:
                    getattr(self, f"step_{step}")()
                    faults.checkpoint(f"after:{step}")
                except ERRORS as exc:
                    if step not in UNDOABLE:
                        # The incoming release already serves: nothing is undone; the transaction stays
                        # open and the next run (any playbook, the boot unit) finishes these steps.
                        self.txn.note(
                            incomplete=step, message=messages.after_switch(self.cfg, self.txn, step, str(exc))
                        )
                        return self.txn
                    self.txn.note(undoing=True, failed_step=step, reason=str(exc))
                    break
                self.txn.mark(step, time.monotonic() - began)
            else:
                self.txn.finish("committed", messages.committed(self.cfg, self.txn), **self._result())
                return self.txn
        for step in UNDO:
            if not self.txn.done(step):
                began = self._enter(step)
                getattr(self, f"step_{step}")()
                faults.checkpoint(f"after:{step}")
                self.txn.mark(step, time.monotonic() - began)
        state = (
            "undone" if not (self.facts.get("db_restore_error") or self.facts.get("undo_error")) else "failed"
        )
        self.txn.finish(state, messages.undone(self.cfg, self.txn), **self._result())
        return self.txn

    def _enter(self, step: str) -> float:
        faults.checkpoint(f"before:{step}")
        self.lock.progress(step)
        self.say(step)
        return time.monotonic()

    def _result(self) -> dict[str, Any]:
        held, switched = self.facts.get("held_at"), self.facts.get("switched_at")
        return {
            "hold_seconds": round(switched - held, 3) if held and switched else None,
            "backup": self.facts.get("backup"),
            "clone": self.facts.get("clone"),
        }

    @property
    def outgoing(self) -> dict[str, Any]:
        return self.args.get("outgoing") or {}

    @property
    def target(self) -> dict[str, Any]:
        return self.args["target"]

    # --- forward steps -------------------------------------------------------------------------------
    def step_prepare(self) -> None:
        found = docker.inspect("container", self.incoming)
        if found and (found["Config"].get("Labels") or {}).get(releases.TXN_LABEL) == self.txn.id:
            return
        if found:
            docker.run("rm", "--force", self.incoming)
        labels = {
            releases.TXN_LABEL: self.txn.id,
            releases.SPEC_LABEL: releases.spec_hash(self.cfg),
            "webappctl.alias": self.target["alias"],
        }
        docker.run(
            *docker.release_args(
                self.cfg,
                self.incoming,
                self.target["image_id"],
                self.target["settings"],
                self.target["alias"],
                labels,
            )
        )

    def step_hold(self) -> None:
        proxy.hold(self.cfg)
        if "held_at" not in self.facts:
            self.txn.note(held_at=time.time())

    def step_stop_outgoing(self) -> None:
        cid = self.outgoing.get("container_id")
        if cid and docker.state(cid).get("Running"):
            docker.run(
                "stop",
                "--time",
                str(self.cfg.container.stop_timeout),
                cid,
                timeout=self.cfg.container.stop_timeout + 60,
            )

    @property
    def sqlite(self) -> Config:
        """The configuration naming the SQLite file this swap copies: the live one, or the one a move to
        a shared database takes its data from."""
        moving = self.args.get("copy_from")
        return replace(self.cfg, db_name=str(moving)) if moving else self.cfg

    def step_backup(self) -> None:
        if not self.args.get("backup_db") or not dbfiles.exists(self.sqlite):
            return
        clone_dir = dbfiles.ensure_work_dir(self.cfg, f"clone-{self.txn.id}")
        info = dbfiles.clone_into(self.sqlite, clone_dir)
        self.txn.note(clone_dir=str(clone_dir), clone=info)

    def step_place_db(self) -> None:
        if self.args.get("copy_from") and not self.facts.get("copied"):
            # The SQLite file as the stopped release left it, into the shared database, verified; a failure
            # or the deadline rolls the copy back (one transaction) and the swap is undone.
            clone_dir = Path(self.facts["clone_dir"])
            remaining = float(self.args.get("max_pause", 25)) - (time.time() - float(self.facts["held_at"]))
            if remaining <= 0:
                raise dbtool.DbToolError(
                    "no time was left within the longest write pause to copy the database"
                )
            self.txn.note(copying=True)
            name = str(self.args["copy_from"])
            target = self.target
            report = dbtool.copy(self.cfg, target["image_id"], target["settings"], clone_dir, name, remaining)
            self.txn.note(copied=report)
        source = self.args.get("restore_from")
        if source:
            aside = dbfiles.replace(self.cfg, Path(source), "replaced", self.facts, self.txn.save)
            self.txn.note(replaced_aside=aside)

    def step_start_incoming(self) -> None:
        # Noted first: from here on the incoming release may have changed the database.
        self.txn.note(incoming_started=True)
        docker.run("start", self.incoming)

    def step_gate(self) -> None:
        health.gate(self.cfg, self.incoming, self.cfg.health_timeout, beat=lambda: self.lock.progress("gate"))

    def step_switch(self) -> None:
        if self.cfg.proxy is not None and not docker.state(self.cfg.proxy.container).get("Running"):
            # First swap after an upgrade from a release that published the port itself.
            self.txn.note(proxy_started=True)
            docker.run("start", self.cfg.proxy.container)
        proxy.point(self.cfg, self.target["alias"])
        if "switched_at" not in self.facts:
            self.txn.note(switched_at=time.time())

    def step_rename(self) -> None:
        name = self.cfg.container.name
        cid = self.outgoing.get("container_id")
        if cid and docker.inspect("container", cid):
            docker.run("rm", "--force", cid)
        if docker.inspect("container", self.incoming):
            docker.run("rename", self.incoming, name)
        docker.run("update", "--restart", self.cfg.container.restart, name)

    def step_verify_backup(self) -> None:
        clone_dir = self.facts.get("clone_dir")
        if not clone_dir or not Path(clone_dir).is_dir() or self.facts.get("backup"):
            return
        image = self.outgoing.get("image_id") or self.target["image_id"]
        dest = Path(self.args["backup_dir"])
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{self.args['backup_tag']}-{stamp}-{self.args['backup_label']}.db"
        try:
            backup = self._materialize(image, Path(clone_dir), dest, name)
        except (dbtool.DbToolError, docker.DockerError, OSError) as exc:
            self._keep_raw(Path(clone_dir), dest, str(exc))
            return
        fsutil.remove_tree(Path(clone_dir))
        self.txn.note(backup=backup)

    def _materialize(self, image: str, clone_dir: Path, dest: Path, name: str) -> dict[str, Any]:
        """The clone, opened by the outgoing image's dbtool (its WAL applied), written as one checked
        file, then root's alone (0600) beside its sha256."""
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = dest / ".incoming"
        staging.mkdir(mode=0o700, exist_ok=True)
        os.chown(str(staging), self.cfg.uid, self.cfg.gid)
        db_name = self.sqlite.db_name
        report = dbtool.backup(self.cfg, image, clone_dir, db_name, staging, name)
        produced = staging / name
        os.chown(str(produced), 0, 0)
        os.chmod(str(produced), 0o600)
        with produced.open("rb") as handle:
            os.fsync(handle.fileno())
        final = dest / name
        os.replace(str(produced), str(final))
        fsutil.write_atomic(Path(f"{final}.sha256"), f"{fsutil.sha256_file(final)}  {name}\n".encode(), 0o600)
        return {"path": str(final), "revision": report.get("revision"), "bytes": final.stat().st_size}

    def _keep_raw(self, clone_dir: Path, dest: Path, error: str) -> None:
        """The clone could not be made into a checked backup: its raw files are the only copy of the
        database as it was. A deploy's is kept where it is and blocks the next deploy until a good
        backup exists; a restore's safety copy is moved beside the backups and named."""
        if self.txn.kind == "restore":
            raw = dest / f"raw-{self.txn.id}"
            raw.mkdir(mode=0o700, parents=True, exist_ok=True)
            for path in clone_dir.iterdir():
                shutil.copy2(str(path), str(raw / path.name))
            fsutil.remove_tree(clone_dir)
            self.txn.note(backup_error=error, raw_copy=str(raw))
            return
        flag = {"txn": self.txn.id, "clone_dir": str(clone_dir), "error": error, "at": time.time()}
        fsutil.write_json(self.cfg.releases / "unverified.json", flag, 0o600)
        self.txn.note(backup_error=error, raw_copy=str(clone_dir))

    def step_record(self) -> None:
        cur = releases.current(self.cfg)
        if cur.get("txn") == self.txn.id:
            return
        new_current = {
            "image": self.target["image"],
            "image_id": self.target["image_id"],
            "settings": self.target["settings"],
            "alias": self.target["alias"],
            "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "by": self.txn.kind,
            "txn": self.txn.id,
            # From now on a missing database is an accident, never a first start.
            "database": bool(cur.get("database")) or dbfiles.exists(self.cfg),
        }
        backup = self.facts.get("backup") or {}
        paired = {"backup": backup["path"], "revision": backup.get("revision")} if backup else {}
        new_previous: dict[str, Any] | None = None
        if self.txn.kind == "rollback":
            new_current["rolled_back_from"] = cur.get("image_id")
            new_previous = {**_release_fields(cur), **paired}
        elif self.txn.kind == "restore":
            restored = {"from": self.args.get("restore_label"), "at": new_current["deployed_at"]}
            new_current = {**cur, "alias": self.target["alias"], "txn": self.txn.id, "restored": restored}
        elif cur.get("image_id") and (
            cur.get("image_id") != self.target["image_id"] or self.args.get("copy_from")
        ):
            # A move onto the shared database keeps the release that ran on SQLite as the previous one, the
            # same image or not: a rollback then says it ran on another database rather than finding none.
            new_previous = {**_release_fields(cur), **paired}
        releases.write_pair(self.cfg, new_current, new_previous)
        if self.txn.kind == "deploy" and self.args.get("digest"):
            converged.record(self.cfg, str(self.args["digest"]))
        else:
            converged.forget(self.cfg)
        fsutil.write_atomic(Path(self.cfg.env_file), Path(self.target["settings"]).read_bytes(), 0o600)
        releases.remember_images(self.cfg, cur.get("image_id", ""), self.target["image_id"])

    def step_prune(self) -> None:
        from . import prune

        removed = prune.images(self.cfg) + prune.backups(self.cfg)
        prune.settings(self.cfg)
        flag = fsutil.read_json(self.cfg.releases / "unverified.json", {}) or {}
        prune.work_dirs(self.cfg, {str(flag.get("clone_dir", ""))})
        self.txn.note(pruned=removed)

    # --- undo ------------------------------------------------------------------------------------
    def step_undo_capture(self) -> None:
        found = docker.inspect("container", self.incoming)
        if not found:
            return
        state = found.get("State") or {}
        redact = self.redactor()
        log = redact(docker.logs_tail(self.incoming, self.cfg.failure_log_lines))
        self.txn.note(
            failed_state=f"status {state.get('Status')}, exit code {state.get('ExitCode')}, "
            f"restarted {found.get('RestartCount', 0)} times",
            failed_log=log.splitlines()[-self.cfg.failure_log_lines :],
        )

    def step_undo_incoming(self) -> None:
        if docker.inspect("container", self.incoming):
            docker.run("rm", "--force", self.incoming)

    def step_undo_db(self) -> None:
        if self.facts.get("copying") and not self.facts.get("copy_cleared"):
            # The copy committed (or may have): the shared database is emptied again, so that the move can
            # be tried again on an empty target.
            try:
                dbtool.copy_clear(self.cfg, self.target["image_id"], self.target["settings"])
                self.txn.note(copy_cleared=True)
            except (dbtool.DbToolError, docker.DockerError) as exc:
                self.txn.note(copy_clear_error=str(exc))
        touched = self.facts.get("incoming_started") or self.facts.get("replace_replaced")
        if not touched or not self.cfg.db_file:
            return
        clone_dir = self.facts.get("clone_dir")
        source = Path(clone_dir) if clone_dir else None
        if source is None or not source.is_dir():
            if self.args.get("db_existed"):
                self.txn.note(db_restore_error="no copy of the database was taken before the swap")
                return
            # Nothing existed before: set aside what the failed release created.
            source = dbfiles.ensure_work_dir(self.cfg, f"empty-{self.txn.id}")
        try:
            aside = dbfiles.replace(self.cfg, source, "failed", self.facts, self.txn.save)
        except OSError as exc:
            self.txn.note(db_restore_error=str(exc))
            return
        self.txn.note(failed_aside=aside, db_restored=bool(clone_dir))

    def step_undo_outgoing(self) -> None:
        cid = self.outgoing.get("container_id")
        if not cid or self.facts.get("db_restore_error") or not self.outgoing.get("running"):
            return
        try:
            if self.facts.get("proxy_started") and self.cfg.proxy is not None:
                docker.run("stop", self.cfg.proxy.container)
            docker.run("start", cid)
            if self.outgoing.get("alias"):
                health.gate(
                    self.cfg, cid, self.cfg.health_timeout, beat=lambda: self.lock.progress("undo_outgoing")
                )
            self.txn.note(undo_healthy=True)
        except (health.GateFailed, docker.DockerError) as exc:
            self.txn.note(undo_error=str(exc))

    def step_undo_proxy(self) -> None:
        alias = self.outgoing.get("alias")
        if alias and not self.facts.get("db_restore_error"):
            proxy.point(self.cfg, alias)

    def redactor(self) -> Callable[[str], str]:
        from . import redact

        files = [Path(self.target["settings"])]
        if self.outgoing.get("settings"):
            files.append(Path(self.outgoing["settings"]))
        return redact.for_files(files)


def _release_fields(record: dict[str, Any]) -> dict[str, Any]:
    keep = ("image", "image_id", "settings", "alias", "deployed_at")
    return {key: record[key] for key in keep if key in record}
