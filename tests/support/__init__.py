"""The one copy of what the tests share (imported as `support.<module>`; pyproject.toml puts tests/ on
pytest's path): hostkit (host containers, ansible-playbook's environment, the app's /health and items),
aws (the emulator's credentials and clients), moto_server (moto's server on 127.0.0.1), metadata_moto
(the emulator at the instance metadata address), playbook (one ansible-playbook runner), testimages (the
test releases), load (a bounded load on the app), app_helpers (tokens and clients for the app's
in-process tests), dotenv_cases (the .env cases the filter tests share), pgserver (a PostgreSQL server in
a container on a Docker network, standing in for RDS); ensure-postgres.sh makes the loopback PostgreSQL
of the postgres-marked tests."""
