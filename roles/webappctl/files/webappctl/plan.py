"""Deciding a transaction before anything changes: what runs now, what is asked for, and whether it
is allowed. A refusal or a no-op ends here, with nothing touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import backup, dbfiles, dbtool, docker, fsutil, proxy, redact, releases
from .config import Config


class Refused(Exception):
    """The request cannot be carried out; nothing was changed. The message says what to do."""


class Unchanged(Exception):
    """The request is already satisfied; the message says so."""


def short(image_id: str | None) -> str:
    return str(image_id or "").replace("sha256:", "")[:12]


def outgoing_of(cfg: Config) -> dict[str, Any]:
    """The release the app container runs now ({} when there is none)."""
    info = docker.inspect("container", cfg.container.name)
    if not info:
        return {}
    cur = releases.current(cfg)
    labels = info["Config"].get("Labels") or {}
    image_id = info["Image"]
    recorded = cur.get("image_id") == image_id
    return {
        "container_id": info["Id"],
        "image": cur.get("image") if recorded else info["Config"].get("Image"),
        "image_id": image_id,
        # A container from before this program ran on /app/.env.
        "settings": cur.get("settings") if recorded and cur.get("settings") else cfg.env_file,
        "alias": labels.get("webappctl.alias", ""),
        "spec": labels.get(releases.SPEC_LABEL, ""),
        "running": bool((info.get("State") or {}).get("Running")),
    }


def _alias(cfg: Config, txn_id: str) -> str:
    return f"{cfg.container.name}-{txn_id.lower()}"


def _guard(cfg: Config, action: str) -> None:
    flag = fsutil.read_json(cfg.releases / "unverified.json")
    if flag and action != "restore":
        raise Refused(
            f"the copy of the database taken by the last swap ({flag.get('txn')}) could not be verified "
            f"({flag.get('error')}); its raw files are in {flag.get('clone_dir')}. Not swapping again until "
            "a "
            "verified backup exists: run playbooks/backup.yml (which clears this), then run this again. "
            "Nothing was changed."
        )
    if (
        cfg.db_file
        and not dbfiles.exists(cfg)
        and dbfiles.had_database(cfg, releases.current(cfg).get("database"))
    ):
        newest = dbfiles.newest_backup(cfg)
        found = marker = dbfiles.marker(cfg)
        hint = (
            f"restore the newest backup, {newest}: ansible-playbook playbooks/restore.yml -e "
            "backup_restore_source=file "
            f"-e backup_restore_file={newest}"
            if newest
            else "restore a backup (playbooks/restore.yml from S3 or a snapshot)"
        )
        raise Refused(
            f"the database {cfg.db_file} is missing, but this data volume held one"
            f"{' (' + str(marker) + ' is there)' if found and found.exists() else ''}: not starting any "
            "release on an "
            f"empty database. To bring the data back, {hint}. To start afresh on purpose, remove {marker}. "
            "Nothing was changed."
        )


def _engine(settings: str | Path | None) -> str:
    """ "sqlite", "postgresql"... of a settings file's DATABASE_URL ("" when it has none)."""
    url = redact.read_settings(Path(settings)).get("DATABASE_URL", "") if settings else ""
    return url.split(":", 1)[0].split("+", 1)[0] if ":" in url else ""


def _switch_guard(out: dict[str, Any], staged: Path, copy: tuple[str, float] | None) -> None:
    """A deploy never moves the app to another kind of database by itself: it would start on an empty one
    (or an old one) while the data stays behind."""
    was, now = _engine(out.get("settings")), _engine(staged)
    if copy and was != "sqlite":
        raise Refused(
            "moving a SQLite database is asked for, but the running release is not on SQLite "
            f"({was or 'no release runs'}). Nothing was changed."
        )
    if copy or not out.get("container_id") or not was or not now or was == now:
        return
    if was == "sqlite":
        raise Refused(
            f"the running release is on SQLite and this deploy would start the app on {now}, without its "
            "data: move the data with playbooks/migrate-to-postgres.yml (it copies and verifies every row "
            "during a short write pause). Nothing was changed."
        )
    raise Refused(
        f"the running release is on {was} and this deploy would start the app on {now}, without its data: "
        "going back to SQLite is a copy the other way (README_DEPLOYMENT, When one instance is not enough). "
        "Nothing was changed."
    )


def _copy_plan(cfg: Config, image_id: str, settings: str, copy: tuple[str, float]) -> dict[str, Any]:
    name, max_pause = copy
    if cfg.db_file is not None:
        raise Refused(
            f"the new settings' database is the SQLite file {cfg.db_file}: there is nothing to move. "
            "Nothing was changed."
        )
    if "/" in name or not (cfg.data / name).is_file():
        raise Refused(f"no SQLite database {name} in {cfg.data} to move. Nothing was changed.")
    try:
        target = dbtool.copy_check(cfg, image_id, settings)
    except (dbtool.DbToolError, docker.DockerError) as exc:
        raise Refused(f"the new database could not be checked: {exc}. Nothing was changed.") from None
    if not target.get("empty"):
        holding = ", ".join(
            f"{t} ({n if n >= 0 else 'not the app'})" for t, n in target.get("holding", {}).items()
        )
        raise Refused(
            f"the target database is not empty (it holds {holding}): moving {name} into it would mix two "
            "databases. Give an empty database (a new RDS instance, or drop what is in it). Nothing was "
            "changed."
        )
    return {"copy_from": name, "max_pause": max_pause}


def delivered(image_ref: str, settings: Path, error: type[Exception]) -> str:
    """The id of the image, once it and its settings file are on this host; `error` says which is not."""
    image_id = docker.image_id(image_ref)
    if not image_id:
        raise error(
            f"the image {image_ref} is not on this host: deliver it first (playbooks/deploy.yml ships it)"
        )
    if not settings.is_file():
        raise error(f"no settings file at {settings}")
    return image_id


def deploy(
    cfg: Config, image_ref: str, staged: Path, txn_id: str, copy: tuple[str, float] | None = None
) -> dict[str, Any]:
    image_id = delivered(image_ref, staged, Refused)
    out = outgoing_of(cfg)
    _switch_guard(out, staged, copy)
    same = (
        out.get("running")
        and out["image_id"] == image_id
        and out["spec"] == releases.spec_hash(cfg)
        and releases.same_settings(out["settings"], str(staged))
        and (cfg.proxy is None or proxy.current(cfg) == out["alias"])
    )
    if same:
        raise Unchanged(f"{image_ref} ({short(image_id)}) already runs with these settings; nothing changed.")
    _guard(cfg, "deploy")
    moving = _copy_plan(cfg, image_id, str(staged), copy) if copy else {}
    settings = releases.install_settings(cfg, staged, txn_id)
    return {
        **moving,
        "description": f"Deploy of {image_ref} ({short(image_id)})",
        "target": {
            "image": image_ref,
            "image_id": image_id,
            "settings": str(settings),
            "alias": _alias(cfg, txn_id),
        },
        "outgoing": out,
        # Moving a database: the SQLite file as the stopped release left it is cloned, copied from, and
        # kept as a verified backup.
        "backup_db": image_id != out.get("image_id") or bool(moving),
        "db_existed": dbfiles.exists(cfg),
        "backup_tag": "pre-deploy",
        "backup_dir": str(cfg.pre_deploy_dir),
        "backup_label": releases.label_of(out.get("image_id") or image_id),
    }


def rollback(cfg: Config, restore_database: bool, txn_id: str, host: str) -> dict[str, Any]:
    cur, prev = releases.current(cfg), releases.previous(cfg)
    if not prev.get("image_id") or not cur.get("image_id"):
        raise Refused(
            f"{cfg.releases / 'previous.json'} on {host} records no previous release: there is nothing to "
            "roll back "
            "to. Deploy a known-good image instead (playbooks/deploy.yml -e app_image=...). Nothing was "
            "changed."
        )
    if cur.get("rolled_back_from") and cur["rolled_back_from"] == prev["image_id"]:
        raise Unchanged(
            f"{host} is already rolled back from {prev.get('image')} to {cur.get('image')}; to go forward, "
            "deploy "
            f"{prev.get('image')} with deploy.yml (ansible-playbook playbooks/deploy.yml -e "
            f"app_image={prev.get('image')}). "
            "Nothing was changed."
        )
    if not docker.image_id(prev["image_id"]):
        raise Refused(
            f"the image of the previous release {prev.get('image')} ({prev['image_id']}) is no longer on "
            f"{host}; "
            "nothing was changed. Deploy it again instead (playbooks/deploy.yml -e "
            f"app_image={prev.get('image')})."
        )
    _guard(cfg, "rollback")
    out = outgoing_of(cfg)
    if restore_database and cfg.db_file is None:
        raise Refused(
            "the database is not a SQLite file on this host (PostgreSQL, shared by every host): a rollback "
            "never restores it; migrations stay backward compatible for one release, so the previous "
            "release serves the schema as it is. Roll back without rollback_restore_database (or restore "
            "the database to a point in time with playbooks/restore.yml). Nothing was changed."
        )
    _same_database(prev, out.get("settings") or cfg.env_file, host)
    live = dbtool.revision(cfg, out.get("image_id") or cur["image_id"]) if dbfiles.exists(cfg) else None
    restore_from, label = "", ""
    if live != prev.get("revision") and not restore_database:
        paired = prev.get("backup")
        how = (
            f"Restore the backup paired with it as well ({paired}; writes made since are kept aside, not "
            "deleted): "
            "ansible-playbook playbooks/rollback.yml -e rollback_restore_database=true."
            if paired
            else "No backup is recorded with that release, so it cannot be restored with it: deploy a "
            "release that knows this schema instead (playbooks/deploy.yml -e app_image=...)."
        )
        raise Refused(
            f"refusing to roll back {host} to {prev.get('image')} with the image only: the database is at "
            "schema "
            f"revision {live or 'none'} but that release ran at revision "
            f"{prev.get('revision') or 'unknown (not recorded)'}, "
            f"so its code would meet a schema it does not know. {how} Nothing was changed."
        )
    if restore_database:
        paired = prev.get("backup")
        if not paired or not Path(paired).is_file():
            raise Refused(
                f"the previous release {prev.get('image')} has no paired backup on {host} "
                f"({paired or 'none recorded'}): "
                "its database cannot be restored. Nothing was changed."
            )
        stage = dbfiles.ensure_work_dir(cfg, f"restore-{txn_id}")
        report = _verified(cfg, Path(paired), stage, prev["image_id"])
        if report.get("revision") != prev.get("revision"):
            raise Refused(
                f"the paired backup {paired} is at revision {report.get('revision')} where "
                f"{prev.get('revision')} was "
                "recorded. Nothing was changed."
            )
        restore_from, label = str(stage), str(paired)
    settings = prev.get("settings")
    if not settings or not Path(settings).is_file():
        settings = str(releases.install_settings(cfg, Path(out.get("settings") or cfg.env_file), txn_id))
    return {
        "description": f"Rollback to {prev.get('image')} ({short(prev['image_id'])})",
        "target": {
            "image": prev.get("image"),
            "image_id": prev["image_id"],
            "settings": settings,
            "alias": _alias(cfg, txn_id),
        },
        "outgoing": out,
        "backup_db": True,
        "db_existed": dbfiles.exists(cfg),
        "restore_from": restore_from,
        "restore_label": label,
        "backup_tag": "pre-rollback",
        "backup_dir": str(cfg.pre_deploy_dir),
        "backup_label": releases.label_of(out.get("image_id") or cur["image_id"]),
    }


def _same_database(prev: dict[str, Any], running_settings: str, host: str) -> None:
    """A rollback keeps the database: the previous release going back to another one (it ran on
    SQLite before the move to PostgreSQL) would leave every write made since behind."""
    settings = prev.get("settings")
    if not settings or not Path(settings).is_file():
        return
    was = redact.read_settings(Path(settings)).get("DATABASE_URL", "")
    now = redact.read_settings(Path(running_settings)).get("DATABASE_URL", "")
    if was != now:
        raise Refused(
            f"the previous release {prev.get('image')} on {host} ran on another database (its DATABASE_URL "
            "differs from the running release's): rolling back would switch the app back to that database "
            "and leave the writes made since behind. Deploy that image with today's settings instead: "
            f"ansible-playbook playbooks/deploy.yml -e app_image={prev.get('image')}. Nothing was changed."
        )


def _verified(cfg: Config, source: Path, stage: Path, image_id: str) -> dict[str, Any]:
    try:
        return backup.verify(cfg, source, stage, image_id)
    except (backup.BackupError, docker.DockerError, OSError) as exc:
        fsutil.remove_tree(stage)
        raise Refused(f"{exc}. Nothing was changed.") from None


def restore(cfg: Config, source: Path, label: str, txn_id: str) -> dict[str, Any]:
    out = outgoing_of(cfg)
    cur = releases.current(cfg)
    image_id = out.get("image_id") or cur.get("image_id")
    if not image_id:
        raise Refused("the app was never deployed on this host: deploy it first (playbooks/deploy.yml)")
    stage = dbfiles.ensure_work_dir(cfg, f"restore-{txn_id}")
    report = _verified(cfg, source, stage, image_id)
    settings = cur.get("settings") if cur.get("image_id") == image_id and cur.get("settings") else None
    if not settings:
        settings = str(releases.install_settings(cfg, Path(out.get("settings") or cfg.env_file), txn_id))
    return {
        "description": f"Restore of {label or source}",
        "target": {
            "image": out.get("image") or cur.get("image"),
            "image_id": image_id,
            "settings": settings,
            "alias": _alias(cfg, txn_id),
        },
        "outgoing": out,
        "backup_db": True,
        "db_existed": dbfiles.exists(cfg),
        "restore_from": str(stage),
        "restore_label": label or str(source),
        "restore_report": report,
        "backup_tag": "pre-restore",
        "backup_dir": str(Path(cfg.backup.dir) / "pre-restore"),
        "backup_label": releases.label_of(image_id),
    }
