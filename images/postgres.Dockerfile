# A PostgreSQL server from Debian's packages, standing in for RDS in the local rehearsal of a fleet
# (scripts/rehearsal.sh up --scale N) and in the tests of a shared database. Like RDS it starts with
# one master user owning one database, both named by the environment, and takes password logins
# (scram-sha-256) from the network. Built by scripts/build-postgres-image.sh; no registry needed.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql && chmod 0700 /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
# postgres stops on SIGINT with a fast shutdown: open transactions are rolled back, none is lost.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
