"""The demo desk stays off a production database (issue 19, item 6).

`seed_demo` creates a superuser and staff logins with a published password and published
authenticator secrets. With DEBUG off it refuses before touching the database and exits
non-zero; and a production process (DEBUG off) refuses to start while any authenticator
carries a published demo secret: `check --deploy` reports accounts.E001 and importing the WSGI
application (what gunicorn and runserver do) fails."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connection
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import demo as accounts_demo
from accounts.checks import CHECK_ID, refuse_demo_secrets
from accounts.models import User
from accounts.roles import Role

ROOT = Path(__file__).resolve().parents[2]


def row_counts() -> dict[str, int]:
    """Rows in every table of the project's apps and of the authenticator devices."""
    tables = sorted(
        model._meta.db_table
        for label in ("accounts", "custody", "compliance", "lending", "reports", "otp_totp")
        for model in apps.get_app_config(label).get_models()
        if model._meta.managed and not model._meta.proxy
    )
    quote = connection.ops.quote_name  # names from the app registry
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


def production_env(**overrides) -> dict[str, str]:
    """A production process (DEBUG off, its secrets and broker set) on the test database."""
    db = connection.settings_dict
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="prod-" + "k3y!" * 15,
        FIELD_ENCRYPTION_KEY="cHJvZHVjdGlvbi1maWVsZC1rZXktMzItYnl0ZXMhISE=",
        DJANGO_ALLOWED_HOSTS="desk.example.com",
        FIX_HOST="broker.example.com",
        FIX_PORT="9878",
        FIX_SENDER_COMP_ID="MARGINDESK",
        FIX_TARGET_COMP_ID="BROKER",
        FIX_STORE_DIR=str(ROOT / "var" / "fix" / "store"),
        FIX_LOG_DIR=str(ROOT / "var" / "fix" / "log"),
        DATABASE_URL=(
            f"postgres://{db['USER'] or 'postgres'}:{db['PASSWORD'] or ''}@"
            f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
    )
    env.update(overrides)
    return env


def run(args, **env):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=production_env(**env),
    )


# --- seed_demo ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_refuses_with_debug_off_and_writes_nothing():
    before = row_counts()
    with override_settings(DEBUG=False), pytest.raises(CommandError) as refused:
        call_command("seed_demo", stdout=io.StringIO())
    assert "seed_demo refused: DEBUG is off" in str(refused.value)
    assert row_counts() == before
    assert not User.objects.filter(email=accounts_demo.SUPERUSER_EMAIL).exists()


@pytest.mark.django_db(transaction=True)
def test_seed_demo_in_a_production_process_exits_non_zero_and_writes_nothing():
    before = row_counts()
    result = run(["manage.py", "seed_demo"])
    assert result.returncode == 1, result.stdout + result.stderr  # CommandError's exit status
    assert "seed_demo refused: DEBUG is off" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Demo desk ready" not in result.stdout
    assert row_counts() == before  # the same database the process used (DATABASE_URL)


# --- the production check ----------------------------------------------------------------------


def _errors():
    return [m for m in run_checks(include_deployment_checks=True) if m.id == CHECK_ID]


@pytest.mark.django_db
def test_check_deploy_refuses_while_demo_authenticators_are_enrolled():
    accounts_demo.seed(io.StringIO())  # 8 staff logins (superuser + 7) with the demo secret
    with override_settings(DEBUG=False):
        [error] = _errors()
        assert error.is_serious() and error.msg.startswith("8 authenticator(s)")
        assert accounts_demo.SUPERUSER_EMAIL in error.msg
        with pytest.raises(SystemCheckError, match=CHECK_ID):
            call_command("check", "--deploy", stdout=io.StringIO(), stderr=io.StringIO())
        with pytest.raises(ImproperlyConfigured, match=CHECK_ID):
            refuse_demo_secrets()
    # the demo desk itself (DEBUG on) is not refused
    with override_settings(DEBUG=True):
        assert _errors() == []
        refuse_demo_secrets()


@pytest.mark.django_db
def test_any_login_with_the_published_secret_is_found_and_own_devices_pass(make_user):
    officer = make_user(Role.RISK)
    own = TOTPDevice.objects.create(user=officer, name="phone", confirmed=True)  # random key
    with override_settings(DEBUG=False):
        assert _errors() == []
        # the demo key is computable for any e-mail (the recipe is public)
        own.key = accounts_demo.demo_totp_key(officer.email)
        own.save()
        [error] = _errors()
        assert officer.email in error.msg and error.msg.startswith("1 authenticator(s)")


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_application_refuses_to_start_until_the_demo_secrets_are_removed():
    accounts_demo.seed(io.StringIO())
    started = ["-c", "import config.wsgi; print('started')"]
    refused = run(started)
    assert refused.returncode != 0 and "started" not in refused.stdout
    assert f"ImproperlyConfigured: {CHECK_ID}" in refused.stderr
    # the remedy: the demo devices go (each user enrols their own phone)
    TOTPDevice.objects.filter(name=accounts_demo.DEMO_DEVICE_NAME).delete()
    ok = run(started)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "started"
