"""Who may do what: the services' one permission check, and what a staff page's write needs.

`require_permission(actor, perm, action=...)` is the one check every service of every app
makes before it acts. `actor` is the person acting (a view, API view, form or admin action
always passes `request.user`) or None, which always means the system: Celery tasks and beat,
management commands, data migrations, seeds, and services calling on the system's behalf.
The system is allowed; a user who lacks the permission, or whose account is inactive, is
refused with accounts.errors.PermissionDenied (code "permission_denied", 403 in the API).
No view passes actor=None, and every write service checks or says why not
(tests/test_actor_none.py and tests/accounts/test_permission_helper.py read the source).

What a write on a staff console page needs, declared on the view and checked up front.

A role that may read a staff page is not always allowed to act on it (the read-only auditor;
operations on a risk-only action). Every staff page view with a write method declares
`write_permission`, and `WritePermissionMixin` refuses a write by a user without it with
Django's PermissionDenied (403, templates/403.html) before the view reads or writes any row,
the way the API answers. The services check the same permission again (defence in depth):
this check only decides how the page refuses, never whether a service may be called. Before
any of this, a staff write by a session not verified with the second factor is sent to the
code prompt by accounts.middleware.SecondFactorForStaffWrites (accounts/second_factor.py).

`write_permission` is one of
- a permission, "app_label.codename", or a tuple of them (all needed), for every write;
- a dict keyed by the value of the POST field named by `write_action_field` (the button the
  form sends), with the key None for any other or missing value: the branch the view falls
  through to. Keep the keys in step with the view's branches.

Declaring is enforced when the class is defined, so a new write on a staff page cannot be
added without naming its permission (tests/test_access_matrix.py reads the declarations to
try every write as each role lacking the permission).
"""

from collections.abc import Mapping

from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from . import errors


def require_permission(actor, perm: str, *, action: str = "") -> None:
    """Refuse `actor` unless it holds `perm` ("app_label.codename") on an active account.
    `actor` None is the system and is always allowed (see the module docstring). `action`
    names what is refused ("approve a filing") in the message; `extra` names the permission.
    """
    if actor is None:
        return
    subject = action or "permission"
    if not getattr(actor, "is_active", False):
        raise errors.PermissionDenied(
            _("%(action)s: an inactive account may not do this (%(perm)s is needed)")
            % {"action": subject, "perm": perm},
            code="permission_denied",
            extra={"permission": perm},
        )
    if not actor.has_perm(perm):
        raise errors.PermissionDenied(
            _("%(action)s: your role does not allow this (%(perm)s is needed)")
            % {"action": subject, "perm": perm},
            code="permission_denied",
            extra={"permission": perm},
        )


def require_investor_or_permission(actor, investor, perm: str | None, *, action: str = "") -> None:
    """The investor (active) acting for their own profile, or a user holding `perm`, or the
    system (actor None). An investor never acts for another investor, whatever `perm`; with
    `perm` None only the investor themself (or the system) may act: what only they can say
    (acknowledging a disclosure, confirming a written warning)."""
    if actor is None:
        return
    profile = getattr(actor, "investor_profile", None)
    if profile is not None or perm is None:
        if profile is None or profile.pk != investor.pk:
            raise errors.PermissionDenied(
                _("%(action)s: only the investor may do this for themselves")
                % {"action": action or "investor"},
                code="permission_denied",
                extra={"permission": perm or "investor"},
            )
        if getattr(actor, "is_active", False):
            return
    require_permission(actor, perm or "investor", action=action)


WRITE_METHODS = ("post", "put", "patch", "delete")

Permissions = str | tuple[str, ...]


class WritePermissionMixin:
    """Put it after the login and staff checks among a view's bases (their dispatch runs
    first, so an anonymous user is still sent to sign in)."""

    write_permission: Permissions | Mapping[str | None, Permissions] | None = None
    write_action_field = "action"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = cls.write_permission
        if declared is None:
            if any(hasattr(cls, method) for method in WRITE_METHODS):
                raise ImproperlyConfigured(
                    f"{cls.__module__}.{cls.__qualname__}: a staff page that accepts writes "
                    "declares write_permission (see accounts/permissions.py)"
                )
            return
        if isinstance(declared, Mapping) and None not in declared:
            raise ImproperlyConfigured(
                f"{cls.__module__}.{cls.__qualname__}: write_permission by action needs the "
                "key None for the branch any other action falls through to"
            )
        for permissions in declared.values() if isinstance(declared, Mapping) else [declared]:
            names = (permissions,) if isinstance(permissions, str) else permissions
            if not names or not all(isinstance(n, str) and "." in n for n in names):
                raise ImproperlyConfigured(
                    f"{cls.__module__}.{cls.__qualname__}: write_permission {permissions!r} "
                    "is not an 'app_label.codename' permission or a tuple of them"
                )

    @classmethod
    def write_actions(cls) -> list[str | None]:
        """The action values the declaration tells apart (None: any other value)."""
        declared = cls.write_permission
        return list(declared) if isinstance(declared, Mapping) else [None]

    @classmethod
    def write_permissions_for(cls, action: str | None = None) -> tuple[str, ...]:
        """Every permission a write asking for `action` needs."""
        declared = cls.write_permission
        if isinstance(declared, Mapping):
            declared = declared.get(action, declared[None])
        if declared is None:
            raise ImproperlyConfigured(f"{cls.__qualname__}: no write_permission declared")
        return (declared,) if isinstance(declared, str) else tuple(declared)

    def dispatch(self, request, *args, **kwargs):
        if request.method.lower() in WRITE_METHODS and request.user.is_authenticated:
            action = None
            if isinstance(self.write_permission, Mapping):
                action = request.POST.get(self.write_action_field)
            needed = self.write_permissions_for(action)
            if not request.user.has_perms(needed):
                raise PermissionDenied(f"permission: {', '.join(needed)} is needed for this")
        return super().dispatch(request, *args, **kwargs)


class StaffPageMixin(LoginRequiredMixin, UserPassesTestMixin, WritePermissionMixin):
    """A staff console page: `permission` opens it ("" for any staff member); a write also
    needs `write_permission`."""

    permission = ""

    def test_func(self) -> bool:
        user = self.request.user
        return user.is_staff and (not self.permission or user.has_perm(self.permission))


class InvestorPageMixin(LoginRequiredMixin):
    """A portal page of the signed-in investor's own profile (`self.investor`): 404 for a
    signed-in user without one (an investor operations have not verified yet, staff)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.investor = getattr(request.user, "investor_profile", None)
        if self.investor is None:
            raise Http404("no investor profile")
        return super().dispatch(request, *args, **kwargs)
