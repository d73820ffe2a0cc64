"""Every write to users, roles and investor profiles goes through here, with the actor
and a reason recorded in the history row.

Each service checks the actor's permission (accounts.permissions.require_permission; actor
None is the system). `investor_profile_update_in_transaction` trusts its caller: compliance's
classification and professional-treatment services, which have checked their own permission,
set the category it decides through it."""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .audit import stamp
from .errors import Conflict, PermissionDenied, RuleViolation, ValidationFailed
from .models import ApiToken, IdentityType, InvestorCategory, InvestorProfile, InvestorType, User
from .permissions import require_permission
from .roles import STAFF_ROLES, TOKEN_ONLY_ROLES, Role

logger = logging.getLogger(__name__)


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
    require_permission(actor, "accounts.add_user", action="create a user")
    if role not in Role.values:
        raise ValidationFailed(
            _("role: unknown role %(role)s") % {"role": repr(role)}, extra={"field": "role"}
        )
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            _("email: a user with e-mail %(email)s already exists") % {"email": email},
            extra={"field": "email"},
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
    require_permission(actor, "accounts.change_user", action="change a user's role")
    if role not in Role.values:
        raise ValidationFailed(
            _("role: unknown role %(role)s") % {"role": repr(role)}, extra={"field": "role"}
        )
    with transaction.atomic():
        user.is_staff = role in STAFF_ROLES
        stamp(user, actor=actor, reason=reason)
        user.save(update_fields=["is_staff"])
        user.groups.set([Group.objects.get(name=role)])
    return user


def _validate_choice(field: str, value: str, choices) -> None:
    if value not in choices.values:
        raise ValidationFailed(
            _("%(field)s: %(value)s is not one of %(values)s")
            % {"field": field, "value": repr(value), "values": ", ".join(choices.values)},
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
        raise ValidationFailed(
            _("real_name: the real name is required"), extra={"field": "real_name"}
        )
    if len(id_number.strip()) < 6:
        raise ValidationFailed(
            _("id_number: an identity number has at least 6 characters"),
            extra={"field": "id_number"},
        )
    if len(bank_account.strip()) < 8:
        raise ValidationFailed(
            _("bank_account: a bank account number has at least 8 digits"),
            extra={"field": "bank_account"},
        )
    if user.is_staff:
        raise ValidationFailed(
            _("user: desk staff cannot hold an investor profile"), extra={"field": "user"}
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
            _(
                "id_number: an investor with this identity document already exists "
                "(one real-name investor per identity)"
            ),
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
    """Correct an investor's profile (operations, accounts.change_investorprofile)."""
    require_permission(actor, "accounts.change_investorprofile", action="change an investor")
    return investor_profile_update_in_transaction(
        profile=profile,
        actor=actor,
        reason=reason,
        id_number=id_number,
        bank_account=bank_account,
        **changes,
    )


def investor_profile_update_in_transaction(
    *,
    profile: InvestorProfile,
    actor: User | None,
    reason: str,
    id_number: str | None = None,
    bank_account: str | None = None,
    **changes,
) -> InvestorProfile:
    """`investor_profile_update` for a service that has checked its own permission."""
    unknown = set(changes) - set(PROFILE_EDITABLE)
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(
            _("%(field)s: not editable through this service") % {"field": field},
            extra={"field": field},
        )
    if not reason.strip():
        raise ValidationFailed(
            _("reason: a reason is required for every change"), extra={"field": "reason"}
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
            _("id_number: another investor holds this identity document"),
            extra={"field": "id_number"},
        ) from exc
    return profile


# API tokens (django-rest-knox; accounts.models.ApiToken, accounts.api_auth) -----------------


def api_token_ttl(user: User) -> timedelta:
    """How long a new token of `user` lives: desk staff hours, machines and investors days."""
    if user.is_staff:
        return timedelta(hours=settings.API_TOKEN_TTL_STAFF_HOURS)
    if user.groups.filter(name__in=[role.value for role in TOKEN_ONLY_ROLES]).exists():
        return timedelta(days=settings.API_TOKEN_TTL_MACHINE_DAYS)
    return timedelta(days=settings.API_TOKEN_TTL_INVESTOR_DAYS)


def _second_factor_checked(user: User, otp_code: str) -> bool:
    """True when a current authenticator code was given and matches. Checked before (outside)
    the token's transaction: django-otp records a failed code (its throttling) and a used one
    (no replay), and a later refusal must not roll that back."""
    from .second_factor import confirmed_device

    code = (otp_code or "").strip()
    if not code:
        return False
    if not user.is_staff:
        raise ValidationFailed(
            _("otp_code: only desk staff have an authenticator; leave it empty"),
            extra={"field": "otp_code"},
        )
    device = confirmed_device(user)
    if device is None:
        raise ValidationFailed(
            _("otp_code: you have no authenticator enrolled; enrol one in the staff console"),
            extra={"field": "otp_code"},
        )
    allowed, why = device.verify_is_allowed()
    if not allowed:  # django-otp's throttle: each wrong code doubles the wait
        until = why.get("locked_until") if isinstance(why, dict) else None
        raise ValidationFailed(
            (
                _("otp_code: too many wrong codes; try again after %(until)s")
                % {"until": until.isoformat(timespec="seconds")}
                if until
                else _("otp_code: too many wrong codes; try again later")
            ),
            extra={"field": "otp_code"},
        )
    if not device.verify_token(code):
        raise ValidationFailed(
            _(
                "otp_code: the code does not match (or was already used); wait for the next "
                "code and try again"
            ),
            extra={"field": "otp_code"},
        )
    return True


def api_token_issue(
    *, user: User, name: str, otp_code: str = "", actor: User | None
) -> tuple[ApiToken, str]:
    """A new API token for `user` named after its device: the row (which keeps only the
    token's digest) and the token, shown this once. Only the user obtains their own token,
    having proved who they are (password at the API, a signed-in session on the page).

    A desk staff member who gives a current authenticator code gets a token that carries the
    second factor for API_TOKEN_SECOND_FACTOR_MINUTES (never past its expiry): it may write
    what the role may write until then, and only read afterwards."""
    if actor is not None and actor.pk != user.pk:
        raise PermissionDenied(
            _("issue an API token: a token is issued only to its own user"),
            code="permission_denied",
        )
    if not user.is_active:
        raise PermissionDenied(
            _("issue an API token: an inactive account may not hold a token"),
            code="permission_denied",
        )
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(
            _("name: name the device the token is for (e.g. 'risk laptop')"),
            extra={"field": "name"},
        )
    if len(name) > 80:
        raise ValidationFailed(_("name: at most 80 characters"), extra={"field": "name"})
    verified = _second_factor_checked(user, otp_code)
    now = timezone.now()
    ttl = api_token_ttl(user)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one issue at a time
        active = ApiToken.objects.filter(user=user, revoked_at=None, expiry__gt=now).count()
        if active >= settings.API_TOKENS_PER_USER:
            raise RuleViolation(
                _(
                    "name: %(email)s already holds %(active)s active tokens (at most "
                    "%(limit)s); revoke one first"
                )
                % {"email": user.email, "active": active, "limit": settings.API_TOKENS_PER_USER},
                code="token_limit",
                extra={"field": "name", "active": active},
            )
        verified_until = None
        if verified:
            window = timedelta(minutes=settings.API_TOKEN_SECOND_FACTOR_MINUTES)
            verified_until = min(now + window, now + ttl)
        row, token = ApiToken.objects.create(
            user=user, expiry=ttl, name=name, verified_until=verified_until
        )
    logger.info(
        "api token issued: user=%s token=%s name=%r expiry=%s second_factor_until=%s",
        user.pk, row.pk, name, row.expiry.isoformat(),
        verified_until.isoformat() if verified_until else None,
    )  # fmt: skip
    return row, token


def api_token_revoke(*, token: ApiToken, actor: User | None, reason: str = "") -> ApiToken:
    """Revoke a token: refused from then on. Its own user may revoke it; anyone else needs
    accounts.revoke_any_token (security staff). Revoking a revoked token changes nothing.
    The row stays, with when and by whom."""
    if actor is not None and actor.pk != token.user_id:
        require_permission(
            actor, "accounts.revoke_any_token", action="revoke another user's API token"
        )
    with transaction.atomic():
        row = ApiToken.objects.select_for_update().get(pk=token.pk)
        if row.revoked_at is None:
            row.revoked_at = timezone.now()
            row.revoked_by = actor
            row.save(update_fields=["revoked_at", "revoked_by"])
            logger.info(
                "api token revoked: user=%s token=%s by=%s reason=%r",
                row.user_id, row.pk, actor.pk if actor else "system", reason,
            )  # fmt: skip
    return row
