"""The host's own view of itself, published to CloudWatch for the alarms (roles/ec2_instance): whether
the app answers /health, how full the data volume is, how old the newest offsite backup is.

webapp-metrics.timer runs `webappctl metrics` every minute; each metric is published when its
interval has passed since it last was (the state file lives on tmpfs, so after a reboot all are
due). All due values go in one PutMetricData call."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from . import awscli, docker, fsutil, health, offsite
from .config import Config, Offsite

# Seconds between two publications: the alarms' periods (health 1 min, disk 5 min, backup age 1 h,
# where the contract asks for at least every 30 minutes).
INTERVALS = {"health": 60, "disk_used": 300, "backup_age": 300}
UNITS = {"health": "None", "disk_used": "Percent", "backup_age": "Seconds", "backup_failures": "Count"}
# A timer run that starts a few seconds early still counts as a full interval.
SLACK = 20.0


def due(state: dict[str, float], now: float) -> list[str]:
    return [name for name, every in INTERVALS.items() if now - float(state.get(name, 0)) >= every - SLACK]


def disk_used_percent(path: Path) -> float:
    """As df counts it: used blocks over what is used plus what unprivileged writers may still use."""
    st = os.statvfs(str(path))
    used = st.f_blocks - st.f_bfree
    usable = used + st.f_bavail
    return round(100.0 * used / usable, 2) if usable else 0.0


def app_healthy(cfg: Config) -> int:
    """1 when the running release answers its health path with 200 on its private address, else 0."""
    address = docker.container_ip(cfg.container.name, cfg.network)
    if not address:
        return 0
    return 1 if health.probe(address, cfg.container.port, cfg.health_path, timeout=5) == 200 else 0


def datum(off: Offsite, key: str, value: float) -> dict[str, Any]:
    return {
        "MetricName": off.metric_names[key],
        "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(off.dimensions.items())],
        "Value": value,
        "Unit": UNITS[key],
    }


def put(off: Offsite, values: dict[str, float]) -> None:
    data = [datum(off, key, value) for key, value in values.items()]
    awscli.call(
        off, "cloudwatch", "put-metric-data", "--namespace", off.namespace, "--metric-data", json.dumps(data)
    )


def publish(cfg: Config, names: list[str] | None = None, now: float | None = None) -> dict[str, Any]:
    """Publish the due metrics (or exactly `names`). Returns what was published and why anything was
    not; raises awscli.AwsError when CloudWatch or S3 could not be reached."""
    off = cfg.offsite
    why = offsite.why_not(off, "metrics")
    if why:
        return {"published": {}, "notes": [], "message": f"no metrics published: {why}"}
    now = time.time() if now is None else now
    state_file = Path(off.metrics_state)
    state = fsutil.read_json(state_file, {}) or {}
    wanted = due(state, now) if names is None else names
    values: dict[str, float] = {}
    notes: list[str] = []
    if "health" in wanted:
        values["health"] = app_healthy(cfg)
    if "disk_used" in wanted:
        values["disk_used"] = disk_used_percent(cfg.data)
    if "backup_age" in wanted:
        not_here = offsite.why_not(off, "upload")
        if not_here:
            notes.append(f"{off.metric_names['backup_age']} not published: {not_here}")
        else:
            age, where = offsite.newest_age(cfg, now)
            if age is None:
                # No data point: the backup-age alarm counts a missing metric as too old.
                notes.append(f"{off.metric_names['backup_age']} not published: {where}")
            else:
                values["backup_age"] = round(age)
                notes.append(f"the newest offsite backup is {where}")
    if values:
        put(off, values)
    for name in wanted:
        state[name] = now
    state_file.parent.mkdir(parents=True, exist_ok=True)
    fsutil.write_json(state_file, state)
    published = {off.metric_names[k]: v for k, v in values.items()}
    listed = ", ".join(f"{k}={v}" for k, v in published.items()) or "nothing due"
    return {
        "published": published,
        "notes": notes,
        "message": f"published to {off.namespace}: {listed}",
    }
