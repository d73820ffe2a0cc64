"""Every write to users, roles and investor profiles goes through here, with the actor
and a reason recorded in the history row."""

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from .audit import stamp
from .errors import Conflict, ValidationFailed
from .models import IdentityType, InvestorCategory, InvestorProfile, InvestorType, User
from .permissions import require_permission
from .roles import STAFF_ROLES, Role


def user_create(
    *,
    email: str,
    password: str | None,
    role: str,
    full_name: str = "",
    actor: User | None,
    reason: str = "user created",
    self_signup: bool = False,
) -> User:
    """A login with one role. `self_signup`: the person signing up in the portal is the actor
    of their own creation (there is no one else to name in the history)."""
    if role not in Role.values:
        raise ValidationFailed(f"role: unknown role {role!r}", extra={"field": "role"})
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            f"email: a user with e-mail {email} already exists", extra={"field": "email"}
        )
    with transaction.atomic():
        user = User(email=email, full_name=full_name, is_staff=role in STAFF_ROLES)
        user.set_password(password)
        stamp(user, actor=user if self_signup else actor, reason=reason)
        user.save()
        user.groups.set([Group.objects.get(name=role)])
    return user


def investor_sign_up(*, email: str, password: str, full_name: str = "") -> User:
    """An investor registering in the portal: a login with the investor role and nothing
    else. No one else acts, so the new user is recorded as the actor of their own creation;
    the view never passes an actor (actor None would mean the system)."""
    return user_create(
        email=email,
        password=password,
        role=Role.INVESTOR,
        full_name=full_name,
        actor=None,
        reason="self sign-up in the portal",
        self_signup=True,
    )


def user_set_role(*, user: User, role: str, actor: User, reason: str) -> User:
    if role not in Role.values:
        raise ValidationFailed(f"role: unknown role {role!r}", extra={"field": "role"})
    with transaction.atomic():
        user.is_staff = role in STAFF_ROLES
        stamp(user, actor=actor, reason=reason)
        user.save(update_fields=["is_staff"])
        user.groups.set([Group.objects.get(name=role)])
    return user


def _validate_choice(field: str, value: str, choices) -> None:
    if value not in choices.values:
        raise ValidationFailed(
            f"{field}: {value!r} is not one of {', '.join(choices.values)}",
            extra={"field": field},
        )


def investor_profile_create(
    *,
    user: User,
    real_name: str,
    id_type: str,
    id_number: str,
    bank_name: str,
    bank_account: str,
    investor_type: str = InvestorType.INDIVIDUAL,
    category: str = InvestorCategory.ORDINARY,
    phone: str = "",
    address: str = "",
    actor: User | None,
    reason: str = "investor onboarded",
) -> InvestorProfile:
    require_permission(actor, "accounts.add_investorprofile", action="verify an identity")
    _validate_choice("investor_type", investor_type, InvestorType)
    _validate_choice("id_type", id_type, IdentityType)
    _validate_choice("category", category, InvestorCategory)
    if not real_name.strip():
        raise ValidationFailed("real_name: the real name is required", extra={"field": "real_name"})
    if len(id_number.strip()) < 6:
        raise ValidationFailed(
            "id_number: an identity number has at least 6 characters", extra={"field": "id_number"}
        )
    if len(bank_account.strip()) < 8:
        raise ValidationFailed(
            "bank_account: a bank account number has at least 8 digits",
            extra={"field": "bank_account"},
        )
    if user.is_staff:
        raise ValidationFailed(
            "user: desk staff cannot hold an investor profile", extra={"field": "user"}
        )
    profile = InvestorProfile(
        user=user,
        investor_type=investor_type,
        real_name=real_name.strip(),
        id_type=id_type,
        bank_name=bank_name,
        category=category,
        phone=phone,
        address=address,
    )
    profile.set_id_number(id_number)
    profile.set_bank_account(bank_account)
    stamp(profile, actor=actor, reason=reason)
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError as exc:
        raise Conflict(
            "id_number: an investor with this identity document already exists "
            "(one real-name investor per identity)",
            extra={"field": "id_number"},
        ) from exc
    return profile


PROFILE_EDITABLE = ("real_name", "phone", "address", "bank_name", "category", "investor_type")


def investor_profile_update(
    *,
    profile: InvestorProfile,
    actor: User,
    reason: str,
    id_number: str | None = None,
    bank_account: str | None = None,
    **changes,
) -> InvestorProfile:
    unknown = set(changes) - set(PROFILE_EDITABLE)
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(
            f"{field}: not editable through this service", extra={"field": field}
        )
    if not reason.strip():
        raise ValidationFailed(
            "reason: a reason is required for every change", extra={"field": "reason"}
        )
    if "category" in changes:
        _validate_choice("category", changes["category"], InvestorCategory)
    if "investor_type" in changes:
        _validate_choice("investor_type", changes["investor_type"], InvestorType)
    for field, value in changes.items():
        setattr(profile, field, value)
    if id_number:
        profile.set_id_number(id_number)
    if bank_account:
        profile.set_bank_account(bank_account)
    stamp(profile, actor=actor, reason=reason)
    try:
        with transaction.atomic():
            profile.save()
    except IntegrityError as exc:
        raise Conflict(
            "id_number: another investor holds this identity document", extra={"field": "id_number"}
        ) from exc
    return profile
