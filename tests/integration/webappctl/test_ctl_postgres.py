"""webappctl with a database several hosts share (PostgreSQL, db_name ""), against a real server on
the host's Docker network. The tests run in file order on one host, each from the state the one
before left:

- a host on SQLite moves to PostgreSQL only through a deploy that copies its data (verified row by
  row while the proxy holds requests); a target holding anything is refused untouched, and a move
  whose release then fails is undone with the target emptied again;
- `webappctl migrate` brings the shared schema to a release once; no release migrates at its start
  (MIGRATE_ON_START=false), one behind the schema refuses to start, one ahead of it serves;
- a rollback keeps the shared database, and one back onto the SQLite release is refused;
- the nightly backup has nothing to do there, a manual one says where backups are."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ctlhost import SECRET, CtlHost
from support import hostkit
from support import testimages as images
from support.load import Load
from support.pgserver import PgServer

pytestmark = [pytest.mark.docker]

PASSWORD = f"pg-{uuid.uuid4().hex}"
# The test releases on the app image with the PostgreSQL driver
V1, V2, BROKEN, AHEAD = map(images.postgres, (images.V1, images.V2, images.BROKEN, images.AHEAD))


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CtlHost]:
    images.ensure(V1, V2, BROKEN, AHEAD)
    base = tmp_path_factory.mktemp("ctlpg")
    the_host = CtlHost(base, "pg").up()
    try:
        server(the_host).start(base)
        yield the_host
    finally:
        the_host.down()


def server(host: CtlHost) -> PgServer:
    return PgServer(f"{host.name}-pg", host.name, PASSWORD)


def shared(host: CtlHost, database: str = "webapp") -> dict[str, str]:
    """The settings of a release on the shared database."""
    url = server(host).url().rsplit("/", 1)[0] + f"/{database}"
    return {"DATABASE_URL": url, "MIGRATE_ON_START": "false"}


def move(host: CtlHost, image: str):
    """A deploy onto the shared database that brings the SQLite file's data along."""
    ref = host.tag(image)
    staged = host.settings(**shared(host))
    return host.ctl(
        "deploy", "--image", ref, "--settings", str(staged), "--foreground",
        "--copy-from-sqlite", "app.db", "--max-pause", "20",
    )  # fmt: skip


def migrate(host: CtlHost, image: str, **settings: str):
    ref = host.tag(image)
    return host.ctl("migrate", "--image", ref, "--settings", str(host.settings(**settings)))


def served(host: CtlHost) -> dict[str, str]:
    return {item["id"]: item["name"] for item in hostkit.served_items(host.url)}


def test_a_release_on_sqlite_holds_the_data(host: CtlHost):
    assert host.deploy(V1).state == "committed"
    for n in range(30):
        hostkit.post_item(host.url, f"on-sqlite-{n}", {"n": n})
    assert len(served(host)) == 30


def test_a_deploy_onto_postgres_without_the_data_is_refused(host: CtlHost):
    host.write_config(db_name="")  # as the app role writes it once the inventory says postgres
    outcome = host.deploy(V1, **shared(host))
    assert outcome.state == "refused" and "playbooks/migrate-to-postgres.yml" in outcome.message, outcome
    assert len(served(host)) == 30 and host.health()["version"] == "v1"


def test_a_move_into_a_database_holding_anything_is_refused_untouched(host: CtlHost):
    server(host).sql("CREATE TABLE invoices (id integer)")
    outcome = move(host, V1)
    assert outcome.state == "refused" and "the target database is not empty" in outcome.message, outcome
    assert "invoices (not the app)" in outcome.message and "Nothing was changed" in outcome.message
    assert server(host).sql("SELECT count(*) FROM invoices") == "0"
    server(host).sql("DROP TABLE invoices")
    assert len(served(host)) == 30


def test_a_move_whose_release_fails_is_undone_and_the_target_emptied(host: CtlHost):
    outcome = move(host, BROKEN)
    assert outcome.state == "undone", outcome
    assert "the copy in the new database was emptied again" in outcome.message, outcome.message
    assert server(host).sql("SELECT count(*) FROM items") == "0"
    assert len(served(host)) == 30 and host.health()["version"] == "v1"


def test_the_move_copies_every_row_under_load(host: CtlHost, tmp_path: Path):
    with Load(host.url, writers=2, readers=1) as load:
        outcome = move(host, V1)
    assert outcome.rc == 0 and outcome.state == "committed", outcome
    assert not load.failures, load.report()
    assert "row counts and the checksum of every row verified" in outcome.message, outcome.message
    now = served(host)
    assert set(load.acknowledged) <= set(now) and len(now) == 30 + len(load.acknowledged)
    assert server(host).sql("SELECT count(*) FROM items") == str(len(now))
    # The SQLite file stays, and a verified backup of it.
    assert (host.root / "data" / "app.db").is_file()
    backup = outcome.result["result"]["backup"]
    assert (
        backup
        and Path(backup["path"]).is_file()
        and len(host.backup_items(Path(backup["path"]), tmp_path)) >= 30
    )
    assert outcome.result["result"]["hold_seconds"] < 20


def test_a_rollback_back_onto_sqlite_is_refused(host: CtlHost):
    refused = host.ctl("rollback", "--foreground")
    assert refused.state == "refused" and "ran on another database" in refused.message, refused
    refused = host.ctl("rollback", "--restore-database", "--foreground")
    assert refused.state == "refused" and "never restores it" in refused.message, refused


def test_migrate_brings_the_schema_forward_once_while_the_old_release_serves(host: CtlHost):
    assert migrate(host, V1, **shared(host)).state == "unchanged"
    outcome = migrate(host, AHEAD, **shared(host))
    assert outcome.rc == 0 and outcome.state == "committed" and "from 0002 to 0003" in outcome.message, (
        outcome
    )
    again = migrate(host, AHEAD, **shared(host))
    assert again.state == "unchanged" and not again.result["changed"], again
    health = host.health()
    assert (health["version"], health["revision"]) == ("v1", "0003")
    assert host.deploy(AHEAD, **shared(host)).state == "committed"
    assert host.lock_free()


def test_a_rollback_serves_the_schema_ahead(host: CtlHost):
    outcome = host.ctl("rollback", "--foreground")
    assert outcome.rc == 0 and outcome.state == "committed", outcome
    health = host.health()
    assert (health["version"], health["revision"]) == ("v1", "0003")
    ahead = migrate(host, V1, **shared(host))
    assert ahead.state == "unchanged" and "is ahead of 0002" in ahead.message, ahead


def test_a_release_on_a_database_never_migrated_refuses_to_start(host: CtlHost):
    server(host).sql("CREATE DATABASE fresh")
    outcome = host.deploy(V2, **shared(host, "fresh"))
    assert outcome.state == "undone", outcome
    assert "has no schema revision" in outcome.message and "migrate once" in outcome.message, outcome.message
    assert PASSWORD not in outcome.message + outcome.stderr
    assert host.health()["version"] == "v1"


def test_a_failed_migration_says_why_without_the_password(host: CtlHost):
    wrong = shared(host) | {"DATABASE_URL": shared(host)["DATABASE_URL"].replace(PASSWORD, PASSWORD[::-1])}
    outcome = migrate(host, AHEAD, **wrong)
    assert outcome.rc == 1 and outcome.state == "failed", outcome
    assert "could not read the schema revision" in outcome.message
    assert PASSWORD not in outcome.message + outcome.stderr and PASSWORD[::-1] not in outcome.message


def test_the_nightly_backup_has_nothing_to_do_and_a_manual_one_says_where_backups_are(host: CtlHost):
    timer = host.ctl("backup", "--defer", "5")
    assert timer.rc == 0 and timer.state == "unchanged" and "(RDS)" in timer.message, timer
    manual = host.ctl("backup")
    assert manual.rc == 1 and "backup.yml takes a snapshot" in manual.message, manual


def test_migrate_is_refused_on_a_sqlite_host(host: CtlHost):
    host.write_config(db_name="app.db")
    outcome = migrate(host, V2)
    assert outcome.rc == 1 and "each release migrates it when it starts" in outcome.message, outcome
    assert SECRET not in outcome.message
