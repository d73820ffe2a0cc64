"""A production desk refuses to run with a demo authenticator enrolled.

`manage.py seed_demo` gives every demo staff login a TOTP device whose secret is published
(accounts.demo.demo_totp_key: the SHA-1 of a fixed sentence and the e-mail). With DEBUG off,
such a device would let anyone who reads the source pass the staff second factor. So, when
DEBUG is off:

* `manage.py check --deploy` reports accounts.E001 (an Error: the command exits non-zero);
* the WSGI application (config/wsgi.py: gunicorn, and runserver, which loads it) refuses to
  start: `refuse_demo_secrets()` raises ImproperlyConfigured.

The remedy is to delete those devices (the users enrol their own phones at
/accounts/2fa/setup/) or the demo logins themselves. With DEBUG on (the demo desk) nothing is
checked. A database that cannot be read is not this check's to report (the health endpoint
and the first request do).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

log = logging.getLogger(__name__)

CHECK_ID = "accounts.E001"


def demo_secret_devices() -> list[tuple[str, str]]:
    """(e-mail, device name) of every TOTP device carrying a published demo secret: the demo
    key of its own user's e-mail, or of any demo staff login."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.demo import demo_staff_emails, demo_totp_key

    published = {demo_totp_key(email) for email in demo_staff_emails()}
    found = []
    for email, name, key in TOTPDevice.objects.values_list("user__email", "name", "key"):
        key = (key or "").lower()
        if key in published or key == demo_totp_key(email):
            found.append((email, name))
    return sorted(found)


def demo_secret_errors() -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    try:
        found = demo_secret_devices()
    except DatabaseError as exc:  # no database yet (a build step), or not migrated
        log.info("demo authenticator check skipped: database not readable (%s)", exc)
        return []
    if not found:
        return []
    who = ", ".join(email for email, _name in found)
    return [
        checks.Error(
            f"{len(found)} authenticator(s) carry the published demo secret ({who}) while "
            "DEBUG is off: anyone can compute their codes.",
            hint="Delete those TOTP devices (the users enrol their own at /accounts/2fa/setup/) "
            "or the demo logins; never run seed_demo on a production database.",
            id=CHECK_ID,
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_demo_authenticators(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return demo_secret_errors()


def refuse_demo_secrets() -> None:
    """Called when the WSGI application starts: with DEBUG off and a demo secret enrolled, the
    process stops here instead of serving."""
    errors = demo_secret_errors()
    if errors:
        raise ImproperlyConfigured(f"{CHECK_ID}: {errors[0].msg} {errors[0].hint}")
