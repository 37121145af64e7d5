"""Command line: `webappctl COMMAND ...`. The outcome is one JSON object on stdout; progress goes to
stderr. Exit status: 0 done (or nothing to do), 1 failed, 2 refused before any change, 3 failed
and undone."""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from pathlib import Path
from typing import Any

from . import (
    alert,
    awscli,
    backup,
    config,
    converged,
    dbfiles,
    docker,
    fsutil,
    journal,
    metrics,
    migrate,
    proxy,
    redact,
    releases,
    run,
    shipping,
)
from .lock import Lock, LockBusy


def _owner(given: str) -> str:
    if given:
        return given
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webappctl", description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def txn_command(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--by", default="", help="who asks (user@controller), named in lock messages")
        cmd.add_argument(
            "--foreground", action="store_true", help="run here, not in a transient systemd unit"
        )
        cmd.add_argument("--wait", type=float, help="seconds to wait for a live holder of the lock")
        return cmd

    deploy = txn_command("deploy", "swap the running release for IMAGE with the settings in FILE")
    deploy.add_argument("--image", required=True)
    deploy.add_argument("--settings", required=True, type=Path)
    deploy.add_argument("--digest", default="", help="what the controller deployed, for `converged`")
    deploy.add_argument(
        "--copy-from-sqlite",
        default="",
        metavar="NAME",
        help="move the SQLite database NAME on the data volume into the new settings' (empty) database",
    )
    deploy.add_argument(
        "--max-pause",
        type=float,
        default=25,
        help="with --copy-from-sqlite: the longest the copy may hold writes",
    )
    rollback = txn_command("rollback", "go back to the previous release")
    rollback.add_argument("--restore-database", action="store_true")
    rollback.add_argument("--host", default=socket.gethostname())
    restore = txn_command("restore", "put a verified backup in place of the live database")
    restore.add_argument("--file", required=True, type=Path)
    restore.add_argument("--label", default="")
    schema = sub.add_parser(
        "migrate", help="migrate a shared database to IMAGE's schema, once, before any swap"
    )
    schema.add_argument("--image", required=True)
    schema.add_argument("--settings", required=True, type=Path)
    schema.add_argument("--wait", type=float, help="seconds to wait for a live holder of the lock")
    schema.add_argument("--by", default="")
    take = sub.add_parser("backup", help="take a consistent, verified backup now")
    take.add_argument("--subdir", default="")
    take.add_argument("--keep", type=int)
    take.add_argument(
        "--defer", type=int, metavar="SECONDS", help="the timer: wait up to SECONDS for a change in progress"
    )
    take.add_argument("--wait", type=float, help="seconds to wait for a live holder of the lock")
    take.add_argument("--data-dir", type=Path, help="back up the database found in DIR (a mounted snapshot)")
    take.add_argument("--by", default="")
    verify = sub.add_parser("verify", help="check a backup file into DIR")
    verify.add_argument("file", type=Path)
    verify.add_argument("--stage", required=True, type=Path)
    recover = sub.add_parser("recover", help="finish or undo what an interrupted run left")
    recover.add_argument("--by", default="")
    sub.add_parser("status", help="lock, open transaction, releases")
    publish = sub.add_parser("metrics", help="publish the due metrics to CloudWatch (webapp-metrics.timer)")
    publish.add_argument("--all", action="store_true", help="every metric now, due or not")
    tell = sub.add_parser("alert", help="tell CloudWatch and the alarm topic that UNIT failed (OnFailure=)")
    tell.add_argument("--unit", required=True)
    quick = sub.add_parser("converged", help="exit 0 when the host already runs what DIGEST describes")
    quick.add_argument("--digest", required=True)
    quick.add_argument("--mountpoint", default="")
    internal = sub.add_parser("exec", help=argparse.SUPPRESS)
    internal.add_argument("--txn-id", required=True)
    internal.add_argument("--kind", required=True)
    internal.add_argument("--params", required=True)
    internal.add_argument("--owner", required=True)
    return parser


def _status(cfg: config.Config) -> dict[str, Any]:
    active = journal.Journal(cfg.txn_dir).active() if cfg.txn_dir.is_dir() else None
    holder = fsutil.read_json(cfg.releases / "lock.json")
    return {
        "lock": holder or "free",
        "open_transaction": run.outcome(active) if active else None,
        "current": releases.current(cfg),
        "previous": releases.previous(cfg),
        "upstream": proxy.current(cfg),
        "unverified": fsutil.read_json(cfg.releases / "unverified.json"),
        "database": str(cfg.db_file) if cfg.db_file and dbfiles.exists(cfg) else None,
    }


def _migrate(cfg: config.Config, args: argparse.Namespace) -> dict[str, Any]:
    cfg.releases.mkdir(mode=0o755, parents=True, exist_ok=True)
    with Lock(cfg.releases, "migrate", _owner(args.by), cfg.lock_lease) as lock:
        lock.acquire(float(args.wait if args.wait is not None else cfg.lock_wait))
        run.finish_unfinished(cfg, journal.Journal(cfg.txn_dir), lock)
        result = migrate.run(cfg, args.image, args.settings.absolute())
    result["notes"] = lock.notes
    return result


def _backup(cfg: config.Config, args: argparse.Namespace) -> dict[str, Any]:
    if not cfg.releases.is_dir():
        raise backup.BackupError("the app was never deployed here: run playbooks/deploy.yml first")
    if cfg.db_file is None and args.defer is not None:
        # The timer on a host whose database lives elsewhere (PostgreSQL): nothing here to back up.
        message = "the database is not a SQLite file on this host: its own service backs it up (RDS)"
        return {"state": "unchanged", "changed": False, "message": message}
    wait = float(
        args.defer if args.defer is not None else args.wait if args.wait is not None else cfg.lock_wait
    )
    with Lock(cfg.releases, "backup", _owner(args.by), cfg.lock_lease) as lock:
        lock.acquire(wait)
        run.finish_unfinished(cfg, journal.Journal(cfg.txn_dir), lock)
        result = backup.take(cfg, args.subdir, args.keep, args.data_dir)
        # Only the regular backups leave the box (not a restore's safety copy or a snapshot's).
        shipped = not args.subdir and args.data_dir is None
        if shipped:
            shipping.under_lock(cfg, result)
    if shipped:
        shipping.after_lock(cfg, result)
    state, message = shipping.outcome(result, shipped)
    result.update(state=state, changed=True, notes=lock.notes, message=message)
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "converged":
        try:
            differs = converged.check(config.load(), args.digest, args.mountpoint)
        except (config.ConfigError, docker.DockerError, OSError) as exc:
            differs = str(exc)
        print(json.dumps({"converged": not differs, "why": differs}))
        return 1 if differs else 0
    if args.command == "alert":
        return _alert(args.unit)
    try:
        scheduled = (args.command == "backup" and args.defer is not None) or args.command == "metrics"
        if (args.command == "recover" or scheduled) and not (config.CONFIG_DIR / "app.json").exists():
            # Installed by configure.yml before the first deploy: nothing to do yet, not a failure.
            print(
                json.dumps(
                    {"state": "unchanged", "changed": False, "message": "the app is not deployed here yet"}
                )
            )
            return 0
        cfg = config.load()
        if args.command in ("deploy", "rollback", "restore"):
            params: dict[str, Any] = {}
            if args.wait is not None:
                params["wait"] = args.wait
            if args.command == "deploy":
                params.update(image=args.image, settings=str(args.settings.absolute()), digest=args.digest)
                if args.copy_from_sqlite:
                    params.update(copy_from=args.copy_from_sqlite, max_pause=args.max_pause)
            elif args.command == "rollback":
                params.update(restore_database=args.restore_database, host=args.host)
            else:
                params.update(file=str(args.file.absolute()), label=args.label)
            result = run.launch(cfg, args.command, params, _owner(args.by), args.foreground)
            print(json.dumps(result, sort_keys=True))
            return run.EXIT.get(result["state"], 1)
        if args.command == "exec":
            txn = run.execute(cfg, args.txn_id, args.kind, json.loads(args.params), args.owner)
            return run.EXIT.get(txn.state, 1)
        if args.command == "recover":
            result = run.recover(cfg, _owner(args.by))
        elif args.command == "backup":
            result = _backup(cfg, args)
        elif args.command == "migrate":
            result = _migrate(cfg, args)
        elif args.command == "metrics":
            result = metrics.publish(cfg, list(metrics.INTERVALS) if args.all else None)
        elif args.command == "verify":
            args.stage.mkdir(mode=0o700, parents=True, exist_ok=True)
            result = backup.verify(cfg, args.file, args.stage)
        else:
            result = _status(cfg)
    except (
        config.ConfigError,
        backup.BackupError,
        migrate.MigrateError,
        LockBusy,
        docker.DockerError,
        awscli.AwsError,
        OSError,
        RuntimeError,
    ) as exc:
        print(f"webappctl: error: {exc}", file=sys.stderr)
        print(json.dumps({"state": "failed", "changed": False, "message": str(exc)}))
        return 1
    if args.command in ("backup", "metrics"):
        # The journal of the timers' units says what was sent and what was not, and why.
        failed = result.get("state") == "failed"
        print(f"webappctl: {'error: ' if failed else ''}{result.get('message')}", file=sys.stderr)
    print(json.dumps(result, sort_keys=True))
    return 1 if result.get("state") == "failed" else 0


def _alert(unit: str) -> int:
    """Told even when the app's own settings cannot be read: only offsite.json is needed."""
    try:
        off = config.load_offsite()
    except config.ConfigError as exc:
        print(f"webappctl: error: {exc}", file=sys.stderr)
        print(json.dumps({"state": "failed", "changed": False, "message": str(exc)}))
        return 1
    try:
        cfg = config.load()
        scrub = redact.for_files([Path(cfg.env_file)])
    except (config.ConfigError, OSError):
        scrub = redact.Redactor(set())
    try:
        result = alert.send(off, unit, scrub)
    except awscli.AwsError as exc:
        print(f"webappctl: error: {exc}", file=sys.stderr)
        print(json.dumps({"state": "failed", "changed": False, "message": str(exc)}))
        return 1
    print(f"webappctl: {result['message']}", file=sys.stderr)
    print(json.dumps({"state": "committed", "changed": True, **result}, sort_keys=True))
    return 0
