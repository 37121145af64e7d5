"""to_dotenv against the real `docker run --env-file`: accepted values come back byte for byte.

Each case writes one file with many keys and reads it back with a single `docker run ... env -0`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.dotenv_cases import HARD_VALUES, KEYS, VALUES, expected_text, parse_env0

from plugins.filter.to_dotenv import MAX_LINE_BYTES, to_dotenv

pytestmark = pytest.mark.docker

IMAGE = "debian:bookworm-slim"


@pytest.fixture(scope="module")
def docker_env(tmp_path_factory):
    probe = subprocess.run(
        ["docker", "image", "inspect", IMAGE], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        pytest.fail(f"{IMAGE} is not available ({probe.stderr.strip()}); run scripts/base-images.sh")
    workdir = tmp_path_factory.mktemp("dotenv")

    def read_back(env_text: str | bytes) -> dict[str, str]:
        path = workdir / "test.env"
        if isinstance(env_text, str):
            env_text = env_text.encode("utf-8")
        Path(path).write_bytes(env_text)
        result = subprocess.run(
            ["docker", "run", "--rm", "--env-file", str(path), IMAGE, "env", "-0"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        return {key: value for key, value in parse_env0(result.stdout).items() if key.startswith("T_")}

    return read_back


def test_hard_values_round_trip(docker_env):
    mapping = {f"T_HARD_{index}": value for index, value in enumerate(HARD_VALUES)}
    mapping |= {"T_TRUE": True, "T_FALSE": False, "T_INT": -7, "T_big": 2**64}
    mapping["T_LONGEST"] = "y" * (MAX_LINE_BYTES - len("T_LONGEST="))
    assert docker_env(to_dotenv(mapping)) == {key: expected_text(value) for key, value in mapping.items()}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(st.dictionaries(KEYS, VALUES, min_size=50, max_size=60))
def test_generated_values_round_trip(docker_env, mapping):
    assert docker_env(to_dotenv(mapping)) == {key: expected_text(value) for key, value in mapping.items()}


def test_docker_alters_what_to_dotenv_refuses(docker_env):
    # The refusals are not arbitrary: written raw, these lines do not come back as written.
    raw = b"T_CR=x\r\nT_LEAD=  indented\n  T_INDENTED=v\n"
    assert docker_env(raw) == {"T_CR": "x", "T_LEAD": "  indented", "T_INDENTED": "v"}


def test_docker_keeps_trailing_whitespace_that_to_dotenv_refuses_for_other_readers(docker_env):
    assert docker_env(b"T_TRAIL=x \t\n") == {"T_TRAIL": "x \t"}


def test_docker_rejects_a_line_one_byte_over_the_limit(tmp_path, docker_env):
    path = tmp_path / "long.env"
    path.write_text("T_X=" + "x" * (MAX_LINE_BYTES - len("T_X=") + 1) + "\n", encoding="utf-8")
    result = subprocess.run(
        ["docker", "run", "--rm", "--env-file", str(path), IMAGE, "true"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "token too long" in result.stderr
