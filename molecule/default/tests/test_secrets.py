from __future__ import annotations

from conftest import CONTAINER, PROJECT


def test_env_file_holds_the_secret(host, secret_values):
    # The positive control for the two tests below: the value is real and reached the host.
    content = host.file("/app/.env").content_string
    assert all(f"={value}\n" in content for value in secret_values)


def test_no_secret_in_container_logs(host, secret_values):
    logs = host.run(f"docker logs {CONTAINER} 2>&1").stdout
    assert logs.strip(), "the container logged nothing, so this test would prove nothing"
    assert not [value for value in secret_values if value in logs]


def test_no_secret_in_ansible_output(secret_values):
    log = (PROJECT / "build" / "molecule-default" / "ansible.log").read_text()
    converged = "TASK [app : Write the settings of the release to deploy]" in log
    assert converged, "the log did not capture a converge"
    assert not [value for value in secret_values if value in log]
