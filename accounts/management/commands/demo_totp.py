"""Print the current authenticator code of demo staff logins (`make demo` enrols them).

    manage.py demo_totp risk@demo.margindesk.local     # one login
    manage.py demo_totp                                # every demo staff login

Only a demo login whose authenticator still has the published demo secret
(accounts.demo.demo_totp_key) has a code here: a real user's secret is never read.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP

from accounts.demo import demo_device, demo_staff_emails
from accounts.models import User


def current_code(device) -> tuple[str, int]:
    """(the six-digit code now, seconds it stays valid)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    now = time.time()
    totp.time = now
    left = device.step - int(now - device.t0) % device.step
    return f"{totp.token():0{device.digits}d}", left


class Command(BaseCommand):
    help = "Print the current TOTP code of demo staff logins (demo desk only)."

    def add_arguments(self, parser):
        parser.add_argument("emails", nargs="*", help="demo staff e-mails (default: all)")

    def handle(self, *args, **options):
        emails = [e.strip().lower() for e in options["emails"]] or demo_staff_emails()
        for email in emails:
            user = User.objects.filter(email__iexact=email).first()
            device = demo_device(user) if user is not None else None
            if device is None:
                raise CommandError(
                    f"{email}: not a demo staff login with the demo authenticator "
                    "(run `manage.py seed_demo`; a login that enrolled its own phone uses it)"
                )
            code, left = current_code(device)
            self.stdout.write(f"{code}  {email}  (valid {left} s more)")
