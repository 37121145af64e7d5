"""Backups leave the box by themselves: after each verified backup the host uploads it to S3 with its
instance role and snapshots its data volume, pruning its own snapshots; no controller is involved.

The upload sends the sha256 of the verified local file with the object (S3 refuses the upload when
the bytes it received have another checksum), with server-side encryption, then reads the object's
head back and compares checksum, size, encryption and metadata. The key is <key_prefix><file name>,
where the backup role's key prefix is <bucket prefix><inventory hostname>/."""

from __future__ import annotations

import base64
import calendar
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import awscli, fsutil
from .config import Config, Offsite

# A single PUT carries at most 5 GiB; larger backups would need a multipart upload.
MAX_SINGLE_PUT = 5 * 1024**3


class OffsiteError(RuntimeError):
    """A backup could not be sent offsite or checked there; the message says which part and why."""


def why_not(off: Offsite, part: str) -> str:
    """Why the host does not do `part` ("" when it does)."""
    if off.note:
        return off.note
    needed = {
        "upload": off.bucket,
        "snapshot": off.volume_id,
        "metrics": off.namespace,
        "alert": off.topic_arn,
    }
    missing = {
        "upload": "no bucket configured",
        "snapshot": "no data volume configured",
        "metrics": "no metric namespace configured",
        "alert": "no alarm topic configured",
    }
    return "" if needed[part] else missing[part]


def backup_time(name: str, prefix: str) -> float | None:
    """The UTC time in a backup's name (<prefix>-YYYYmmddTHHMMSSZ-<release>.db[.gz]), as epoch seconds."""
    match = re.match(rf"^{re.escape(prefix)}-([0-9]{{8}}T[0-9]{{6}}Z)-.+\.db(\.gz)?$", name)
    if not match:
        return None
    return float(calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%SZ")))


def head_problems(head: dict[str, Any], sha256_hex: str, size: int, encryption: str) -> list[str]:
    """What the stored object's head says differently from the file that was sent."""
    want_b64 = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
    problems = []
    if head.get("ChecksumSHA256") != want_b64:
        problems.append(f"its SHA256 checksum is {head.get('ChecksumSHA256')!r}, the file's {want_b64!r}")
    if int(head.get("ContentLength", -1)) != size:
        problems.append(f"it holds {head.get('ContentLength')} bytes, the file {size}")
    if head.get("ServerSideEncryption") != encryption:
        problems.append(f"it is encrypted with {head.get('ServerSideEncryption')!r}, not {encryption!r}")
    if (head.get("Metadata") or {}).get("sha256") != sha256_hex:
        problems.append("its sha256 metadata differs")
    return problems


def _put(off: Offsite, path: Path, key: str, sha256_hex: str, metadata: dict[str, str]) -> dict[str, Any]:
    args = [
        "--bucket", off.bucket, "--key", key, "--body", str(path),
        "--checksum-algorithm", "SHA256",
        "--checksum-sha256", base64.b64encode(bytes.fromhex(sha256_hex)).decode(),
        "--server-side-encryption", off.encryption,
        "--metadata", json.dumps({**metadata, "sha256": sha256_hex}),
    ]  # fmt: skip
    if off.kms_key_id:
        args += ["--ssekms-key-id", off.kms_key_id]
    put = awscli.call(off, "s3api", "put-object", *args)
    head = awscli.call(
        off, "s3api", "head-object", "--bucket", off.bucket, "--key", key, "--checksum-mode", "ENABLED"
    )
    problems = head_problems(head, sha256_hex, path.stat().st_size, off.encryption)
    if problems:
        raise OffsiteError(f"s3://{off.bucket}/{key} is not what was sent: {'; '.join(problems)}")
    return put


def upload(cfg: Config, result: dict[str, Any]) -> dict[str, Any]:
    """Send the backup and its .sha256 to the bucket and check both there."""
    off = cfg.offsite
    path = Path(result["path"])
    size = path.stat().st_size
    if size > MAX_SINGLE_PUT:
        raise OffsiteError(
            f"{path} is {size} bytes, more than one upload carries (5 GiB): set backup_compress, "
            "or move the database to a server database"
        )
    metadata = {
        "release": str(result.get("release") or ""),
        "revision": str(result.get("revision") or ""),
        "created": str(result.get("created") or ""),
        "host": off.host,
    }
    key = f"{off.key_prefix}{path.name}"
    try:
        put = _put(off, path, key, result["sha256"], metadata)
        sidecar = Path(f"{path}.sha256")
        _put(off, sidecar, f"{key}.sha256", fsutil.sha256_file(sidecar), {"host": off.host})
    except awscli.AwsError as exc:
        raise OffsiteError(f"s3://{off.bucket}/{key}: {exc}") from None
    return {
        "object": f"s3://{off.bucket}/{key}",
        "version_id": put.get("VersionId"),
        "bytes": size,
        "sha256": result["sha256"],
        "checksum_verified": True,
    }


def newest_age(cfg: Config, now: float | None = None) -> tuple[float | None, str]:
    """Seconds since the newest backup in the bucket was taken (by the time in its name), and its key;
    (None, why) when there is none."""
    off = cfg.offsite
    listed = awscli.call(
        off, "s3api", "list-objects-v2", "--bucket", off.bucket, "--prefix", off.key_prefix, timeout=300
    )
    found = [
        (taken, item["Key"])
        for item in listed.get("Contents") or []
        if (taken := backup_time(item["Key"][len(off.key_prefix) :], cfg.backup.prefix)) is not None
    ]
    if not found:
        return None, f"no backup under s3://{off.bucket}/{off.key_prefix}"
    taken, key = max(found)
    return max((now if now is not None else time.time()) - taken, 0.0), f"s3://{off.bucket}/{key}"


def snapshot(cfg: Config, result: dict[str, Any]) -> dict[str, Any]:
    """Snapshot the data volume (crash-consistent, taken under the host's lock right after the backup)
    with the tags the instance policy requires, then prune our older ones."""
    off = cfg.offsite
    precise = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    name = Path(result["path"]).name
    tags = {
        **off.snapshot_extra_tags,
        **off.snapshot_tags,
        "Name": f"{off.snapshot_tags.get('Project', 'webapp')}-data-{result.get('created')}",
        "Release": str(result.get("release") or ""),
        # Microseconds: snapshots taken within one second still sort (StartTime has seconds only).
        "BackupTime": precise,
        "BackupHost": off.host,
        "BackupFile": name,
    }
    spec = [{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}]
    description = f"data volume of {off.host}, release {result.get('release')}, with local backup {name}"
    try:
        made = awscli.call(
            off, "ec2", "create-snapshot", "--volume-id", off.volume_id,
            "--description", description, "--tag-specifications", json.dumps(spec),
        )  # fmt: skip
        pruned = prune_snapshots(off)
    except awscli.AwsError as exc:
        raise OffsiteError(f"{off.volume_id}: {exc}") from None
    return {"snapshot_id": made.get("SnapshotId"), "volume_id": off.volume_id, "pruned": pruned}


def prune_snapshots(off: Offsite) -> list[str]:
    """Completed snapshots of ours beyond the newest `snapshot_keep` go, and failed ones (they hold
    nothing). Ours: of this volume, carrying every tag in snapshot_tags (API filter, checked again
    here) and a BackupTime. Pending ones (this run's) are never deleted."""
    filters = [{"Name": "volume-id", "Values": [off.volume_id]}]
    filters += [{"Name": f"tag:{k}", "Values": [v]} for k, v in sorted(off.snapshot_tags.items())]
    listed = awscli.call(
        off, "ec2", "describe-snapshots", "--owner-ids", "self", "--filters", json.dumps(filters)
    )
    ours = []
    for snap in listed.get("Snapshots") or []:
        tags = {t["Key"]: t["Value"] for t in snap.get("Tags") or []}
        mine = all(tags.get(k) == v for k, v in off.snapshot_tags.items())
        if mine and snap.get("VolumeId") == off.volume_id and tags.get("BackupTime"):
            ours.append((tags["BackupTime"], snap))
    ours.sort(key=lambda pair: pair[0], reverse=True)
    completed = [snap for _, snap in ours if snap.get("State") == "completed"]
    failed = [snap for _, snap in ours if snap.get("State") == "error"]
    removed = []
    for snap in completed[max(off.snapshot_keep, 1) :] + failed:
        awscli.call(off, "ec2", "delete-snapshot", "--snapshot-id", snap["SnapshotId"])
        removed.append(snap["SnapshotId"])
    return removed


# What each part is called in results and in the journal, done and not done.
WORDS = {
    "snapshot": ("snapshot taken", "no snapshot"),
    "upload": ("uploaded", "not uploaded"),
    "backup_age": ("backup age published", "backup age not published"),
}


def attempt(result: dict[str, Any], part: str, why: str, action: Callable[[], dict[str, Any]]) -> None:
    """Run one part after a backup, recording in result[part] what it did, why it was not done, or how
    it failed (then also in result["problems"]); never silent: the summary names each part."""
    done, not_done = WORDS[part]
    if why:
        result[part] = {"done": False, "why": why, "said": f"{not_done}: {why}"}
        return
    try:
        outcome = action()
    except (OffsiteError, awscli.AwsError) as exc:
        result[part] = {"done": False, "error": str(exc), "said": f"{not_done}: {exc}"}
        result.setdefault("problems", []).append(f"{not_done}: {exc}")
        return
    target = outcome.get("object") or outcome.get("snapshot_id") or outcome.get("message", "")
    result[part] = {"done": True, **outcome, "said": f"{done}: {target}"}


def summary(result: dict[str, Any]) -> str:
    parts = [result[p]["said"] for p in WORDS if isinstance(result.get(p), dict)]
    return "; ".join(parts)
