"""Production refuses to start without a configured broker (issue 16): with DJANGO_DEBUG off,
`manage.py check` stops at once naming every FIX_* setting left unset (no silent fallback to
the simulated exchange), and passes once the FIX session is configured. Each run is a fresh
process with the production settings' other secrets given, and no FIX_* from this process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FIX_SETTINGS = (
    "FIX_HOST",
    "FIX_PORT",
    "FIX_SENDER_COMP_ID",
    "FIX_TARGET_COMP_ID",
    "FIX_STORE_DIR",
    "FIX_LOG_DIR",
)

pytestmark = pytest.mark.integration


def production_env(**overrides) -> dict:
    """This process's environment without pytest's and FIX_* variables, with DEBUG off and the
    secrets production demands."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST", "FIX_")) and key != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="prod-" + "k3y!" * 15,
        FIELD_ENCRYPTION_KEY="cHJvZHVjdGlvbi1maWVsZC1rZXktMzItYnl0ZXMhISE=",
        DJANGO_ALLOWED_HOSTS="desk.example.com",
    )
    env.update(overrides)
    return env


def fix_env(tmp_path) -> dict:
    return {
        "FIX_HOST": "broker.example.com",
        "FIX_PORT": "9878",
        "FIX_SENDER_COMP_ID": "MARGINDESK",
        "FIX_TARGET_COMP_ID": "BROKER",
        "FIX_STORE_DIR": str(tmp_path / "store"),
        "FIX_LOG_DIR": str(tmp_path / "log"),
    }


def check(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_production_without_a_broker_refuses_to_start_naming_the_fix_settings():
    result = check(production_env())
    assert result.returncode != 0, result.stdout
    assert "the FIX session to the broker is not configured" in result.stderr
    for name in FIX_SETTINGS:
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_production_names_only_the_fix_settings_left_unset(tmp_path):
    env = fix_env(tmp_path)
    del env["FIX_PORT"], env["FIX_LOG_DIR"]
    env["FIX_HOST"] = ""  # set but empty is unset
    result = check(production_env(**env))
    assert result.returncode != 0, result.stdout
    named = result.stderr.split("set ", 1)[1]
    assert [n for n in FIX_SETTINGS if n in named] == ["FIX_HOST", "FIX_PORT", "FIX_LOG_DIR"]


def test_production_with_a_broker_configured_passes(tmp_path):
    result = check(production_env(**fix_env(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_gives_the_simulated_exchange_defaults(tmp_path):
    env = production_env(DJANGO_DEBUG="true")
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from lending.orders.fix_session import FixSettings; s = FixSettings.from_django(); "
         "print(s.host, s.port, s.sender_comp_id, s.target_comp_id)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["127.0.0.1", "9878", "MARGINDESK", "SIMEXCH"]
