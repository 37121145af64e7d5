"""What a transaction says when it ends: what happened, what runs now, where every copy of the data
is. One sentence per fact, so the playbook can print it as it is."""

from __future__ import annotations

from typing import Any

from .config import Config
from .journal import Txn


def _ref(release: dict[str, Any]) -> str:
    image_id = str(release.get("image_id") or "")
    return f"{release.get('image') or image_id} ({image_id.replace('sha256:', '')[:12]})"


def _hold(facts: dict[str, Any]) -> str:
    held, switched = facts.get("held_at"), facts.get("switched_at")
    return f" Requests were held for {switched - held:.1f}s during the swap." if held and switched else ""


def _backup(txn: Txn) -> str:
    facts = txn.facts
    backup = facts.get("backup")
    if backup:
        where = f"{backup['path']} (revision {backup.get('revision')})"
        return f" The database as it was is backed up, verified, in {where}."
    if facts.get("backup_error"):
        blocked = (
            " The next deploy is refused until a verified backup exists (playbooks/backup.yml)."
            if txn.kind != "restore"
            else ""
        )
        return (
            f" WARNING: the copy of the database taken before the swap could NOT be verified "
            f"({facts['backup_error']}); its raw files are kept in {facts.get('raw_copy')}.{blocked}"
        )
    return ""


def committed(cfg: Config, txn: Txn) -> str:
    target, args = txn.args["target"], txn.args
    kind = txn.kind
    if kind == "restore":
        head = f"Restored {args.get('restore_label')} into {cfg.db_file}; "
        head += f"the app answers {cfg.health_path} with 200."
        aside = txn.facts.get("replaced_aside")
        tail = f" The database it replaced is kept as {aside}." if aside else ""
        return head + tail + _backup(txn) + _hold(txn.facts)
    verb = "Rolled back to" if kind == "rollback" else "Deployed"
    head = f"{verb} {_ref(target)}: it answers {cfg.health_path} with 200."
    if kind == "rollback" and args.get("restore_from"):
        head += (
            f" Database restored from {args.get('restore_label')}; "
            f"the replaced one is kept as {txn.facts.get('replaced_aside')}."
        )
    elif kind == "rollback":
        head += " Database left as it was (same schema revision)."
    copied = txn.facts.get("copied")
    if copied:
        tables = ", ".join(f"{rows['rows']} {name}" for name, rows in copied.get("tables", {}).items())
        head += (
            f" Moved the SQLite database {args.get('copy_from')} into the new database in "
            f"{copied.get('seconds')}s: {tables}, row counts and the checksum of every row verified; the "
            f"SQLite file stays in {cfg.data}."
        )
    return head + _backup(txn) + _hold(txn.facts)


def undone(cfg: Config, txn: Txn) -> str:
    facts, args = txn.facts, txn.args
    out = args.get("outgoing") or {}
    lines = [f"{args['description']} FAILED: {facts.get('reason')}."]
    state = facts.get("failed_state") or "no container"
    log = [line for line in facts.get("failed_log") or [] if line.strip()]
    tail = " | ".join(dict.fromkeys(log[-3:]))
    lines.append(f"Its container: {state}; its last log lines (redacted){': ' + tail if tail else ': none'}.")
    clone = facts.get("clone_dir")
    if facts.get("db_restore_error"):
        lines.append(
            f"The database could NOT be put back from the copy taken before the swap ({clone or 'none'}): "
            f"{facts['db_restore_error']}."
        )
        if out.get("container_id"):
            lines.append(
                f"The release that ran before, {_ref(out)}, was NOT started again, so that it does not run "
                "on a "
                "database it may not know."
            )
        lines.append(
            "Fix the cause (e.g. free space on the data volume), restore that copy with "
            "playbooks/restore.yml, "
            "then deploy again."
        )
        return " ".join(lines)
    if not out.get("container_id"):
        lines.append(
            "There was no previous release to go back to; the proxy holds requests until a deploy succeeds."
        )
    elif facts.get("undo_error"):
        lines.append(
            f"NOT undone: the release that ran before, {_ref(out)}, could not be started again "
            f"({facts['undo_error']})."
        )
    elif out.get("running"):
        lines.append(
            f"Undone: the release that ran before, {_ref(out)}, is back with its settings and answers "
            f"{cfg.health_path} with 200;"
        )
    else:
        lines.append(
            f"Undone: the release that ran before, {_ref(out)}, was not running and is left stopped;"
        )
    if facts.get("copy_cleared"):
        lines.append("the copy in the new database was emptied again (the move can be tried again);")
    elif facts.get("copy_clear_error"):
        lines.append(
            f"the copy in the new database could NOT be emptied ({facts['copy_clear_error']}): empty it "
            "before trying the move again;"
        )
    if facts.get("db_restored"):
        lines.append(
            "the database was restored from the copy taken before the swap; the failed release's database "
            "is kept "
            f"as {facts.get('failed_aside')}."
        )
    elif facts.get("incoming_started") and facts.get("failed_aside"):
        lines.append(f"the database the failed release created is set aside as {facts.get('failed_aside')}.")
    elif facts.get("incoming_started"):
        lines.append("there was no database to restore.")
    else:
        lines.append("the database was not touched (the failure came before the new release started).")
    lines.append("The release records are unchanged.")
    return " ".join(lines)


def after_switch(cfg: Config, txn: Txn, step: str, error: str) -> str:
    return (
        f"{txn.args['description']}: the new release serves and answers {cfg.health_path}, but finishing the "
        f"transaction failed at '{step}' ({error}). Fix that and run any playbook (or `webappctl recover` "
        "on the "
        "host): it finishes the remaining steps."
    )
