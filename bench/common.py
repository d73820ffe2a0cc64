"""What every benchmark does first: its own database on the local PostgreSQL (created when
missing) and Django set up against it, without DEBUG (no per-query logging, as production)."""

import os


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(name: str) -> None:
    """Point Django at the benchmark's database and set it up (the caller imports the apps
    only after this)."""
    os.environ["DATABASE_URL"] = database_url(name)
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False
