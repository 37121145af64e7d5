# The app image: Debian's python3 plus a venv with the pinned runtime packages.
# Wheels in .wheels/ (scripts/build-image.sh downloads them) are used when present, the index otherwise.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv
RUN python3 -m venv /opt/venv
# .wheel[s] matches nothing (and copies nothing) when the context has no wheelhouse.
COPY app/requirements.txt .wheel[s] /build/
RUN if ls /build/*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /build -r /build/requirements.txt; \
    else \
      /opt/venv/bin/pip install --no-cache-dir -r /build/requirements.txt; \
    fi
# The runtime never installs anything: drop pip (and setuptools, where the venv has it).
RUN /opt/venv/bin/pip uninstall -y -q pip setuptools 2>/dev/null; /opt/venv/bin/python -c "import uvicorn"

FROM ${BASE_IMAGE}
# apt's package caches (/var/cache/apt/*.bin) alone would add some 75 MB: remove them with the lists.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY app/ /app/app/
# Bytecode is compiled now because the root filesystem is read-only at run time.
RUN python3 -m compileall -q /app/app \
 && mkdir -p /app/data && chown app:app /app/data \
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
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["/app/app/entrypoint.sh"]
