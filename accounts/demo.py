"""Demo desk, part 1: one user per role and two investors. Idempotent."""

from django.db import transaction

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
        if not User.objects.filter(email="admin@demo.margindesk.local").exists():
            User.objects.create_superuser(
                "admin@demo.margindesk.local", DEMO_PASSWORD, full_name="Desk Administrator"
            )
        logins.append(("admin@demo.margindesk.local", "superuser"))
        for email, name, role in DEMO_STAFF:
            if not User.objects.filter(email=email).exists():
                services.user_create(
                    email=email,
                    password=DEMO_PASSWORD,
                    role=role,
                    full_name=name,
                    actor=None,
                    reason="demo seed",
                )
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
