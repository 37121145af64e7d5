"""After a swap: keep `keep_images` images of the app's repository besides the running one (the
rollback target first, then the newest), as many pre-deploy backups (the rollback target's paired
backup always among them), and only the settings files a release record names."""

from __future__ import annotations

from pathlib import Path

from . import docker, fsutil, releases
from .config import Config


def images(cfg: Config) -> list[str]:
    cur, prev = releases.current(cfg), releases.previous(cfg)
    protected = {i for i in (cur.get("image_id"), prev.get("image_id")) if i}
    listed = docker.run("image", "ls", "--no-trunc", "--quiet", cfg.repository, check=False).stdout.split()
    history_file = cfg.releases / "images"
    history = history_file.read_text().split() if history_file.exists() else []
    known = sorted({i for i in listed + history if i.startswith("sha256:")})
    created = {}
    if known:
        proc = docker.run("image", "inspect", "--format", "{{.Id}} {{.Created}}", *known, check=False)
        created = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    others = sorted((i for i in created if i not in protected), key=lambda i: created[i], reverse=True)
    slots = max(cfg.keep_images - (1 if prev.get("image_id") else 0), 0)
    removed = [image for image in others[slots:] if _remove(cfg, image)]
    gone = set(removed) | {i for i in history if i not in created}
    if gone:
        kept = [i for i in history if i not in gone]
        fsutil.write_atomic(history_file, ("\n".join(kept) + "\n").encode() if kept else b"")
    return removed


def _remove(cfg: Config, image: str) -> bool:
    """Untag the image from the app's repository, then remove it if nothing else names it: a tag of
    another repository on the same image (an operator's own) keeps it."""
    info = docker.inspect("image", image)
    if info is None:
        return True
    for tag in info.get("RepoTags") or []:
        if tag.rsplit(":", 1)[0] == cfg.repository:
            docker.run("image", "rm", tag, check=False)
    left = docker.inspect("image", image)
    if left is None:
        return True
    if not left.get("RepoTags"):
        return docker.run("image", "rm", image, check=False).returncode == 0
    return False


def backups(cfg: Config) -> list[str]:
    prev = releases.previous(cfg)
    keep_path = str(prev.get("backup") or "")
    found = sorted(cfg.pre_deploy_dir.glob("pre-*.db"), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for old in found[cfg.keep_images :]:
        if str(old) != keep_path:
            old.unlink()
            Path(f"{old}.sha256").unlink(missing_ok=True)
            removed.append(old.name)
    return removed


def settings(cfg: Config) -> None:
    named = {str(r.get("settings", "")) for r in (releases.current(cfg), releases.previous(cfg))}
    if cfg.settings_dir.is_dir():
        for path in cfg.settings_dir.glob("*.env"):
            if str(path) not in named:
                path.unlink()


def work_dirs(cfg: Config, keep: set[str]) -> None:
    if cfg.work_dir.is_dir():
        for path in cfg.work_dir.iterdir():
            if str(path) not in keep:
                fsutil.remove_tree(path)
