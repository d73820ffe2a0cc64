"""The platform itself: PostgreSQL only, clear errors, production settings, API basics."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _env(**overrides):
    # the browser tests' conftest sets DJANGO_ALLOW_ASYNC_UNSAFE for their own process
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(overrides)
    return env


@pytest.mark.django_db
def test_tests_run_on_postgresql_never_sqlite():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert cursor.fetchone()[0].startswith("PostgreSQL")


def test_sqlite_url_is_refused_at_startup():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env(DATABASE_URL="sqlite:///tmp/x.db", DJANGO_DEBUG="true"),
        timeout=60,
    )
    assert result.returncode != 0
    assert "must point at PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_gives_one_clear_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(DATABASE_URL="postgres://postgres@127.0.0.1:1/margindesk", DJANGO_DEBUG="true"),
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: cannot use the PostgreSQL database 'margindesk'")


def test_pytest_against_unreachable_database_stops_with_one_message(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text("def test_nothing():\n    pass\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            str(ROOT / "tests" / "conftest.py"),
            str(probe),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(DATABASE_URL="postgres://postgres@127.0.0.1:1/margindesk", DJANGO_DEBUG="true"),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in output
    assert "Traceback" not in output


def test_secret_key_is_required_outside_debug():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=""),
        timeout=60,
    )
    assert result.returncode == 2
    assert "DJANGO_SECRET_KEY is required" in result.stderr


@pytest.mark.django_db
def test_check_deploy_with_production_settings_is_clean():
    # against the test database (migrated, no demo authenticators): the default database may
    # hold `make demo`'s desk, whose published secrets check --deploy rightly refuses
    db = connection.settings_dict
    test_database = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY="prod-" + "k3y!" * 15,
            FIELD_ENCRYPTION_KEY="cHJvZHVjdGlvbi1maWVsZC1rZXktMzItYnl0ZXMhISE=",
            DJANGO_ALLOWED_HOSTS="desk.example.com",
            DATABASE_URL=test_database,
            # production refuses to start without its broker (the FIX session)
            FIX_HOST="broker.example.com",
            FIX_PORT="9878",
            FIX_SENDER_COMP_ID="MARGINDESK",
            FIX_TARGET_COMP_ID="BROKER",
            FIX_STORE_DIR=str(ROOT / "var" / "fix" / "store"),
            FIX_LOG_DIR=str(ROOT / "var" / "fix" / "log"),
        ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/auth/tokens/" in paths and "/api/v1/me/" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()  # assets are served locally


@pytest.mark.django_db
def test_api_errors_share_one_shape(client, make_user):
    unauthenticated = client.get("/api/v1/me/")
    assert unauthenticated.status_code in (401, 403)
    assert set(unauthenticated.json()) == {"code", "message", "extra"}
    bad = client.post(
        "/api/v1/auth/tokens/",
        {"email": "not-an-email", "password": "x", "name": "laptop"},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_error"
    assert bad.json()["message"].startswith("email:")
    user = make_user("operations")
    good = client.post(
        "/api/v1/auth/tokens/",
        {"email": user.email.upper(), "password": "correct-horse-42", "name": "laptop"},
        content_type="application/json",
    )
    assert good.status_code == 201
    token = good.json()["token"]
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.json()["email"] == user.email
    assert me.json()["roles"] == ["operations"]


def test_application_error_maps_to_status_and_body():
    from accounts.api_errors import exception_handler
    from accounts.errors import Conflict, RuleViolation

    response = exception_handler(Conflict("key abc reused", extra={"key": "abc"}), {})
    assert response.status_code == 409
    assert response.data == {
        "code": "conflict",
        "message": "key abc reused",
        "extra": {"key": "abc"},
    }
    assert exception_handler(RuleViolation("no"), {}).status_code == 422


@pytest.mark.django_db
def test_pages_switch_language(client):
    zh = client.get("/accounts/login/")
    assert "登录" in zh.content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    en = client.get("/accounts/login/")
    assert "Sign in" in en.content.decode()
    assert 'lang="en"' in en.content.decode()


@pytest.mark.django_db
def test_admin_pages_carry_the_language_switch(client, make_user):
    client.force_login(make_user("auditor"))
    page = client.get("/admin/").content.decode()
    assert 'action="/i18n/setlang/"' in page
    assert 'value="zh-hans"' in page and 'value="en"' in page
