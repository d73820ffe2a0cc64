#!/usr/bin/env python
"""Django's command-line utility, with one clear line when PostgreSQL cannot be reached."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except OperationalError as exc:
        from django.conf import settings

        db = settings.DATABASES["default"]
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        sys.stderr.write(
            f"error: cannot use the PostgreSQL database {db['NAME']!r} at "
            f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}: {first_line}\n"
            "hint: start PostgreSQL, check DATABASE_URL, or run `make db` to create it.\n"
        )
        sys.exit(2)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"error: configuration: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
