"""Roles are Django groups; this table is the one place that says what each may do.

Permissions are matched as "app_label.codename" shell patterns. Nobody is granted delete:
records of a regulated desk are corrected, never removed. Object-level rules (an investor
sees only their own account) live in selectors and API querysets, not here. Every role but
the investor and the market-data feed is desk staff (STAFF_ROLES: is_staff, the staff console,
a second factor on every write). A new role's group is made by `sync_roles`, which the roles
migration and every later `migrate` (post_migrate) run.
"""

from fnmatch import fnmatch

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _


class Role(TextChoices):
    INVESTOR = "investor", _("Investor")
    OPERATIONS = "operations", _("Operations")
    RISK = "risk", _("Risk officer")
    COMPLIANCE = "compliance", _("Compliance officer")
    TREASURY = "treasury", _("Treasury")
    AUDITOR = "auditor", _("Auditor (read-only)")
    PRICE_FEED = "price_feed", _("Market data feed")
    BANK_FEED = "bank_feed", _("Bank statement feed")


DOMAIN_APPS = ("accounts", "custody", "compliance", "lending", "reports")
_VIEW_ALL = [f"{app}.view_*" for app in DOMAIN_APPS] + ["auth.view_group", "auth.view_permission"]

ROLE_GRANTS: dict[str, list[str]] = {
    Role.INVESTOR: [],
    Role.OPERATIONS: [
        *_VIEW_ALL,
        "accounts.add_investorprofile",
        "accounts.change_investorprofile",
        "accounts.add_user",
        "accounts.change_user",
        # security: revoke anyone's API token (who may deactivate a user may cut a token)
        "accounts.revoke_any_token",
        "custody.add_*",
        "lending.add_creditapplication",
        "lending.change_creditapplication",
        "lending.prepare_*",
        "lending.add_bankcredit",
        "lending.add_collateraltransferin",
        # the lending inventory (券源) from the custodian's confirmations, and its withdrawals
        "lending.add_lendinglot",
        "lending.change_lendinglot",
        # corporate actions from the issuers' announcements (one by one or a file)
        "lending.add_corporateaction",
        "lending.change_corporateaction",
        # rights subscriptions entered or withdrawn on the investor's written instruction
        "lending.add_rightssubscription",
        "lending.change_rightssubscription",
        # onboarding: the facts the eligibility check reads, the classification, the check,
        # and refused requests (sub-accounts, third-party authority) recorded as red flags
        "compliance.add_classificationrecord",
        "compliance.add_eligibilityfacts",
        "compliance.change_eligibilityfacts",
        "compliance.add_eligibilitycheck",
        "compliance.add_redflag",
        # a client's written instruction to repay from cash (lending.financing.repayment_post)
        "lending.add_financing",
        # the end of day: run a date's, resume one that stopped (reports.eod)
        "reports.add_endofdayrun",
        "reports.resume_endofdayrun",
    ],
    Role.RISK: [
        *_VIEW_ALL,
        "lending.add_*",
        "lending.change_*",
        "lending.approve_*",
        "lending.run_*",
        "lending.adopt_riskrun",
    ],
    Role.COMPLIANCE: [
        *_VIEW_ALL,
        "compliance.add_*",
        "compliance.change_*",
        "compliance.approve_*",
        "lending.approve_creditapplication",
        "reports.add_*",
        "reports.change_*",
        "reports.approve_*",
        "reports.submit_*",
    ],
    Role.TREASURY: [
        *_VIEW_ALL,
        "custody.add_*",
        "custody.change_*",
        "custody.approve_*",
        "custody.reverse_*",
        "custody.move_*",
        "lending.add_bankcredit",
        "reports.add_*",
        "lending.adopt_riskrun",  # the reserve target a risk run proposes (four eyes)
    ],
    Role.AUDITOR: [*_VIEW_ALL, "auth.view_user"],
    # A machine posting prices with its API token (POST /api/v1/prices/), not a person: it
    # may add price ticks and nothing else, and is not staff, so the staff second-factor rule
    # (accounts.second_factor) does not apply (a feed cannot type an authenticator code).
    Role.PRICE_FEED: ["lending.add_pricetick"],
    # The bank's statement feed posting the client omnibus account's credit lines
    # (POST /api/v1/bank-credits/) with its token: nothing else.
    Role.BANK_FEED: ["lending.add_bankcredit"],
}

#: Roles held by desk employees (is_staff): the staff console, and the second factor on writes.
STAFF_ROLES = frozenset(Role) - {Role.INVESTOR, Role.PRICE_FEED, Role.BANK_FEED}

#: Roles held by machines, which use their API token and never sign in to the web pages
#: (accounts.forms.EmailAuthenticationForm refuses them, even with a correct password).
TOKEN_ONLY_ROLES = frozenset({Role.PRICE_FEED, Role.BANK_FEED})


def permissions_for(role: str, all_permissions: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (app_label, codename) pairs a role gets, out of those that exist."""
    patterns = ROLE_GRANTS[role]
    return {
        (app_label, codename)
        for app_label, codename in all_permissions
        if not codename.startswith("delete_")
        and any(fnmatch(f"{app_label}.{codename}", pattern) for pattern in patterns)
    }


def sync_roles(group_model, permission_model) -> None:
    """Create every role group and set its permissions; running it twice changes nothing."""
    all_permissions = list(
        permission_model.objects.values_list("content_type__app_label", "codename", "pk")
    )
    pairs = [(app, code) for app, code, _pk in all_permissions]
    pk_by_pair = {(app, code): pk for app, code, pk in all_permissions}
    for role in Role:
        group, _created = group_model.objects.get_or_create(name=role.value)
        wanted = {pk_by_pair[pair] for pair in permissions_for(role, pairs)}
        group.permissions.set(wanted)


def sync_roles_after_migrate(sender, **kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    # Permissions of an app exist only after its own post_migrate: re-sync after each one.
    if sender.name in DOMAIN_APPS:
        sync_roles(Group, Permission)
