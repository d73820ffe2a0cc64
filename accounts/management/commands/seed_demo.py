"""Seed the demo desk. Each app may contribute `<app>/demo.py` with `seed(stdout)`;
they run in INSTALLED_APPS order (accounts first), and each is idempotent.

The demo desk has a superuser and staff logins with a published password and published
authenticator secrets: with DEBUG off (production) the command refuses before it touches the
database, and exits non-zero."""

from importlib import import_module, util

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DEMO_PASSWORD


class Command(BaseCommand):
    help = "Create (or top up) the demo desk: users for every role, investors, a book."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo refused: DEBUG is off. The demo desk creates a superuser and staff "
                "logins with a published password and authenticator secrets; it runs only on "
                "a development desk (DJANGO_DEBUG=true)."
            )
        logins: list[tuple[str, str]] = []
        for config in apps.get_app_configs():
            module_name = f"{config.name}.demo"
            if util.find_spec(module_name) is None:
                continue
            result = import_module(module_name).seed(self.stdout)
            if config.name == "accounts":
                logins = result
        self.stdout.write(
            self.style.SUCCESS(f"Demo desk ready. Logins (password for all: {DEMO_PASSWORD}):")
        )
        for email, role in logins:
            self.stdout.write(f"  {role:<11} {email}")
        self.stdout.write(
            "Staff writes need the authenticator code; each staff login has a demo "
            "authenticator: `manage.py demo_totp <e-mail>` prints its current code."
        )
