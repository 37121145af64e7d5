"""No secret value reaches a log line: whatever the message, its arguments, an exception or a request."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from support.hostkit import free_port
from uvicorn.logging import AccessFormatter

from app import redaction
from app.logging_setup import configure_logging
from app.migrate import upgrade
from app.settings import load_settings

REPO = Path(__file__).resolve().parents[3]

# Brackets are left out so a secret can't be spelled by the marker "[REDACTED]" itself.
secrets = st.text(st.characters(exclude_characters="[]", exclude_categories=("Cs",)), min_size=6, max_size=40)


class Leaky:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return f"<Leaky {self.text}>"

    __repr__ = __str__


def _capture(name: str, formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


@hsettings(max_examples=60, deadline=None)
@given(secret=secrets, password=secrets, token=secrets, text=st.text(max_size=40))
def test_no_secret_in_any_log_output(
    tmp_path_factory, secret: str, password: str, token: str, text: str
) -> None:
    for value in (secret, password, token):
        assume(value not in redaction.MARKER and value.strip() and value.lower() not in {"true", "false"})
    redaction.clear()
    env = {
        "SECRET_KEY": secret,
        "SERVICE_API_TOKEN": token,
        "DATABASE_URL": "postgresql+psycopg://app:" + urllib.parse.quote(password, safe="") + "@db/app",
    }
    settings = load_settings(environ=env, cwd=tmp_path_factory.getbasetemp())
    log, out = _capture("redaction.test", logging.Formatter("%(levelname)s %(name)s %(message)s"))
    access, access_out = _capture(
        "redaction.access", AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s')
    )
    configure_logging(settings)

    log.info(f"{text} {secret} {token} {password}")
    log.warning("%s|%r|%s|%d", secret, {"k": token}, Leaky(password), 3)
    log.error("%(a)s %(b)s", {"a": secret, "b": text})
    log.info("url %s", str(settings.database_url))
    log.debug("broken format %s %s", secret)  # a wrong argument count must not print the raw args
    try:
        raise ValueError(f"failed with {secret!r} and {token}")
    except ValueError:
        log.exception("while handling %s", text)
    log.info("stack for %s", password, stack_info=True)
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5",
        "GET",
        f"/api/items?q={urllib.parse.quote(secret)}",
        "1.1",
        200,
    )

    output = out.getvalue() + access_out.getvalue()
    for value in (secret, token, password):
        assert value not in output
        assert urllib.parse.quote(value, safe="") not in output
    assert "[REDACTED]" in output


def test_handlers_get_the_filter_once(make_settings) -> None:
    log, _ = _capture("redaction.once", logging.Formatter("%(message)s"))
    configure_logging(make_settings(SECRET_KEY="abcdefgh"))
    configure_logging(make_settings(SECRET_KEY="abcdefgh"))
    handler = log.handlers[0]
    assert sum(isinstance(f, redaction.RedactingFilter) for f in handler.filters) == 1
    assert isinstance(handler.formatter, redaction.RedactingFormatter)
    assert not isinstance(handler.formatter.inner, redaction.RedactingFormatter)


def _get(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    # Always http://127.0.0.1 built above, never a caller-controlled scheme.
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_uvicorn_access_and_error_logs_are_redacted(tmp_path: Path) -> None:
    secret, token = "Sup3r-Secret-Value-with-32-bytes-at-least", "tok_9f8e7d6c5b4a"
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "SECRET_KEY": secret,
        "GITHUB_TOKEN": token,
        "LOG_LEVEL": "DEBUG",
    }
    upgrade(load_settings(environ=env, cwd=tmp_path))
    issued = subprocess.run(
        [sys.executable, "-m", "app.tokens", "issue", "logs"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert issued.returncode == 0, issued.stderr
    api_token = issued.stdout.strip()
    auth = {"Authorization": f"Bearer {api_token}"}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--no-proxy-headers", "--log-config", str(REPO / "app" / "logging.json"), "--log-level", "debug"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if _get(f"{base}/health") == 200:
                    break
            except OSError:
                time.sleep(0.1)
        assert _get(f"{base}/api/items?cursor={secret}") == 400
        assert _get(f"{base}/{token}/{urllib.parse.quote(secret)}") == 404
        bad_body = f'{{"name": "{secret}"'.encode()
        assert _get(f"{base}/api/items", data=bad_body, headers={"X-Token": token, **auth}) == 400
        assert _get(f"{base}/api/items", data=b'{"name": "ok", "data": {}}', headers=auth) == 201
        # A token where it does not belong (the query string, so the access log line) and a bad one.
        assert _get(f"{base}/api/items?access_token={api_token}", data=b"{}") == 401
        assert _get(f"{base}/api/items", data=b"{}", headers={"Authorization": "Bearer " + secret}) == 401
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()
    assert "GET /health" in output and "[REDACTED]" in output
    for value in (secret, token, urllib.parse.quote(secret), api_token, api_token[5:]):
        assert value not in output
