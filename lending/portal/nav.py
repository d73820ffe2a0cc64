"""The investor's navigation: only the pages the investor can use at their onboarding step.

A portal page needs, at most, one of three things: a signed-in user (the home page, which
says what is still missing, and the simulator), an investor profile (created by operations
after identity verification: suitability, disclosures, credit applications, statements, margin
calls and notices) or an open credit account (opened when a credit application is approved: the
account, its history, orders). A link is shown once its need is met, so a new investor never
meets a link that answers 404 (tests/lending/test_investor_history.py opens every link shown
at each step)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from lending.credit.models import CreditAccount

USER, PROFILE, ACCOUNT = "user", "profile", "account"

#: (URL name, label, what the page needs), in the order the navigation shows them.
NAV = (
    ("portal:home", _("My account"), USER),
    ("portal:lending-account", _("Credit account"), ACCOUNT),
    ("portal:lending-history", _("Account history"), ACCOUNT),
    ("portal:lending-orders", _("Orders"), ACCOUNT),
    ("portal:lending-shorts", _("Short selling"), ACCOUNT),
    ("portal:lending-short-positions", _("Short positions"), ACCOUNT),
    ("portal:lending-margin-calls", _("Margin calls"), PROFILE),
    ("portal:compliance-overview", _("Suitability and disclosures"), PROFILE),
    ("portal:lending-application-list", _("Credit"), PROFILE),
    ("portal:reports-statements", _("Statements"), PROFILE),
    ("portal:lending-simulator", _("Leverage simulator"), USER),
)


def step_of(user) -> str:
    """How far the investor has come: USER (no profile yet), PROFILE (no open credit account)
    or ACCOUNT (an open credit account: the account page and orders read the open one)."""
    profile = getattr(user, "investor_profile", None)
    if profile is None:
        return USER
    if CreditAccount.objects.filter(investor=profile, status="open").exists():
        return ACCOUNT
    return PROFILE


def links_for(user) -> list[tuple[str, str]]:
    """(url, label) of the portal pages `user` can use now."""
    reached = {USER: (USER,), PROFILE: (USER, PROFILE), ACCOUNT: (USER, PROFILE, ACCOUNT)}[
        step_of(user)
    ]
    return [(reverse(name), label) for name, label, need in NAV if need in reached]
