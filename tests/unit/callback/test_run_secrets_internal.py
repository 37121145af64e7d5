"""What the redacted callback learns from internal variables (the roles' __ prefix, registered results
among them): their vault values only. A registered key pair's "key" holds the pair's tags, whose values
(the app's name, the environment) are no secret: learning them by the name "key" redacted host names and
whole debug messages out of every later play of the run."""

from __future__ import annotations

from plugins.plugin_utils.run_secrets import RunSecrets

REGISTERED_KEY_PAIR = {
    "changed": False,
    "key": {
        "name": "webapp-production",
        "fingerprint": "ab:cd",
        "tags": {"Name": "webapp", "Environment": "prod"},
    },
}


def test_names_inside_an_internal_variable_mark_nothing_secret():
    run = RunSecrets()
    run.learn({"__ec2_instance_key_pair": REGISTERED_KEY_PAIR, "rds_master_password": "a-real-secret-value"})
    assert run.values == {"a-real-secret-value"}
    result = {"msg": "ok: [webapp-2-prod] webapp", "_ansible_verbose_always": True}
    assert run.data(result) == result
    assert run.data(result)["_ansible_verbose_always"] is True


def test_secret_names_in_settings_are_still_learned():
    run = RunSecrets()
    run.learn({"app_env": {"SECRET_KEY": "s3cr3t-value", "LOG_LEVEL": "INFO"}})
    assert run.values == {"s3cr3t-value"}
