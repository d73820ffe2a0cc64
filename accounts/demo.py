"""Demo desk, part 1: one user per role and two investors. Idempotent.

Every staff demo login (the superuser included) gets a confirmed authenticator (TOTP) with a
fixed secret, `demo_totp_key(email)`: staff writes need a verified second factor, and
`manage.py demo_totp <email>` prints the current six-digit code. Demo only, like the password:
the secrets are public, so this seed never belongs on a real desk.
"""

import hashlib

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import services
from .models import IdentityType, InvestorCategory, InvestorType, User
from .roles import Role

DEMO_PASSWORD = "demo-desk-2026"  # noqa: S105  (demo only; printed by `make demo`)

DEMO_STAFF = [
    ("ops@demo.margindesk.local", "Operations Maker", Role.OPERATIONS),
    ("ops2@demo.margindesk.local", "Operations Second", Role.OPERATIONS),
    ("risk@demo.margindesk.local", "Risk Officer", Role.RISK),
    ("risk2@demo.margindesk.local", "Risk Checker", Role.RISK),
    ("compliance@demo.margindesk.local", "Compliance Officer", Role.COMPLIANCE),
    ("treasury@demo.margindesk.local", "Treasury", Role.TREASURY),
    ("auditor@demo.margindesk.local", "External Auditor", Role.AUDITOR),
]

SUPERUSER_EMAIL = "admin@demo.margindesk.local"

DEMO_DEVICE_NAME = "demo authenticator"


def demo_staff_emails() -> list[str]:
    return [SUPERUSER_EMAIL, *(email for email, _name, _role in DEMO_STAFF)]


def demo_totp_key(email: str) -> str:
    """The fixed TOTP secret (40 hex digits) of a demo staff login: the SHA-1 of
    "margindesk demo authenticator <email>". Public by design; demo only."""
    seed = f"margindesk demo authenticator {email}".encode()
    return hashlib.sha1(seed, usedforsecurity=False).hexdigest()


def demo_device(user: User) -> TOTPDevice | None:
    """The demo authenticator of a demo staff login, if it still has the published secret."""
    if user.email not in demo_staff_emails():
        return None
    return TOTPDevice.objects.filter(
        user=user, name=DEMO_DEVICE_NAME, confirmed=True, key=demo_totp_key(user.email)
    ).first()


def _enrol_demo_authenticator(user: User) -> None:
    """A confirmed TOTP device with the login's fixed secret, unless the user already has a
    confirmed one (enrolled their own phone at /accounts/2fa/setup/: kept)."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(
            user=user, name=DEMO_DEVICE_NAME, key=demo_totp_key(user.email), confirmed=True
        )


DEMO_INVESTORS = [
    {
        "email": "zhang.wei@demo.margindesk.local",
        "real_name": "张伟",
        "id_type": IdentityType.RESIDENT_ID,
        "id_number": "110101198503071234",
        "bank_name": "中国工商银行",
        "bank_account": "6222020200112233445",
        "investor_type": InvestorType.INDIVIDUAL,
        "category": InvestorCategory.ORDINARY,
        "phone": "+86 138 0000 0001",
    },
    {
        "email": "li.na@demo.margindesk.local",
        "real_name": "李娜",
        "id_type": IdentityType.RESIDENT_ID,
        "id_number": "310104199001012345",
        "bank_name": "招商银行",
        "bank_account": "6225880166778899",
        "investor_type": InvestorType.INDIVIDUAL,
        "category": InvestorCategory.PROFESSIONAL,
        "phone": "+86 139 0000 0002",
    },
]


def seed(stdout) -> list[tuple[str, str]]:
    """Returns (email, role) of every demo login."""
    logins: list[tuple[str, str]] = []
    with transaction.atomic():
        admin = User.objects.filter(email=SUPERUSER_EMAIL).first()
        if admin is None:
            admin = User.objects.create_superuser(
                SUPERUSER_EMAIL, DEMO_PASSWORD, full_name="Desk Administrator"
            )
        _enrol_demo_authenticator(admin)
        logins.append((SUPERUSER_EMAIL, "superuser"))
        for email, name, role in DEMO_STAFF:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = services.user_create(
                    email=email,
                    password=DEMO_PASSWORD,
                    role=role,
                    full_name=name,
                    actor=None,
                    reason="demo seed",
                )
            _enrol_demo_authenticator(user)
            logins.append((email, role.value))
        for data in DEMO_INVESTORS:
            data = dict(data)
            email = data.pop("email")
            user = User.objects.filter(email=email).first()
            if user is None:
                user = services.user_create(
                    email=email,
                    password=DEMO_PASSWORD,
                    role=Role.INVESTOR,
                    full_name=data["real_name"],
                    actor=None,
                    reason="demo seed",
                )
            if not hasattr(user, "investor_profile"):
                services.investor_profile_create(user=user, actor=None, reason="demo seed", **data)
            logins.append((email, Role.INVESTOR.value))
    return logins
