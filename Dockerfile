# The app image: Debian's python3 plus a venv with the pinned runtime packages.
# Wheels in .wheels/ (scripts/build-image.sh downloads them) are used when present, the index otherwise.
# --build-arg WITH_POSTGRES=true adds the PostgreSQL driver (psycopg, about 13 MB); without it the
# image serves SQLite only and says so if DATABASE_URL names PostgreSQL.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv binutils
RUN python3 -m venv /opt/venv
# .wheel[s] matches nothing (and copies nothing) when the context has no wheelhouse.
COPY app/requirements.txt app/requirements-postgres.txt .wheel[s] /build/
ARG WITH_POSTGRES=false
RUN set -e; req="-r /build/requirements.txt"; \
    if [ "$WITH_POSTGRES" = true ]; then req="$req -r /build/requirements-postgres.txt"; fi; \
    if ls /build/*.whl >/dev/null 2>&1; then src="--no-index --find-links /build"; else src=""; fi; \
    /opt/venv/bin/pip install --no-cache-dir --no-compile $src $req
# What the service never runs: pip and setuptools (the runtime installs nothing), the libraries' own
# test helpers, the SQL dialects of databases it does not support, and the debugging symbols of the
# compiled extensions. No bytecode yet: see the final stage.
RUN /opt/venv/bin/pip uninstall -y -q pip setuptools 2>/dev/null; \
    site=$(echo /opt/venv/lib/python3*/site-packages) \
 && rm -rf "$site"/sqlalchemy/testing "$site"/alembic/testing "$site"/sqlalchemy/ext/mypy \
           "$site"/sqlalchemy/dialects/mssql "$site"/sqlalchemy/dialects/mysql "$site"/sqlalchemy/dialects/oracle \
 && find "$site" -name '*.pyi' -delete \
 && find "$site" -name '*.so' -exec strip --strip-unneeded {} + \
 && find /opt/venv -name __pycache__ -prune -exec rm -rf {} + \
 && PYTHONDONTWRITEBYTECODE=1 /opt/venv/bin/python -c \
      "import uvicorn, uvicorn.loops.asyncio, httptools, orjson, sqlalchemy.dialects.sqlite, alembic.ddl, alembic.command"

FROM ${BASE_IMAGE}
# Only python3 itself: no documentation, manual pages or translations (dpkg leaves them out), no
# apt or dpkg logs and caches, and none of the standard library's parts a server never imports
# (IDLE, tkinter, the test suite, 2to3, ensurepip, pydoc's data). Debian compiles the whole
# standard library to bytecode; that is dropped here and made below for what the service imports.
RUN printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
      'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/locale/*' 'path-exclude=/usr/share/info/*' \
      >/etc/dpkg/dpkg.cfg.d/webapp-slim \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
      /var/cache/debconf/*-old /var/lib/dpkg/*-old \
 && cd /usr/lib/python3.11 && rm -rf idlelib tkinter turtledemo test lib2to3 ensurepip pydoc_data \
      && find /usr/lib/python3.11 -name __pycache__ -prune -exec rm -rf {} + \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY app/ /app/app/
# Bytecode, made now because the root filesystem is read-only at run time: for the app, and for
# every module of the standard library and the venv that the service and its tools import (those
# imports write it). A module left out still works, compiled in memory when first imported.
RUN python3 -m compileall -q /app/app \
 && cd /app && /opt/venv/bin/python -c "import app.main, app.serve, app.tokens, app.dbtool, app.migrate, \
      app.store.sqlite, app.store.sql, alembic.command, alembic.ddl, alembic.runtime.migration, \
      alembic.script, alembic.operations, app.http_protocol, uvicorn.loops.asyncio, \
      uvicorn.protocols.http.httptools_impl, \
      uvicorn.protocols.http.h11_impl, uvicorn.protocols.websockets.auto, uvicorn.lifespan.on, \
      uvicorn.supervisors.multiprocess, multiprocessing.spawn, multiprocessing.synchronize, \
      concurrent.futures.thread, urllib.request, sqlalchemy.dialects.postgresql, sqlalchemy.sql.default_comparator" \
 && rm -rf /app/data && mkdir -p /app/data && chown app:app /app/data \
 && chmod 0755 /app/app/entrypoint.sh
# Declared late so a new version does not invalidate the layers above.
ARG APP_VERSION=dev
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_VERSION=${APP_VERSION}
WORKDIR /app
USER 10001:10001
# After the chown: a new named volume starts out owned by the app user.
VOLUME /app/data
EXPOSE 8000
# docker stop's SIGTERM: uvicorn stops accepting and finishes requests in flight (within
# GRACEFUL_SHUTDOWN_TIMEOUT_S, 8 s by default, inside Docker's default 10 s stop timeout).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["/app/app/entrypoint.sh"]
