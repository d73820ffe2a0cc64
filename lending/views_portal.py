"""The investor portal's home (/portal/, "portal:home"): the account overview.

Profile, onboarding steps still open (suitability, disclosure, credit), the credit account's
figures with the maintenance ratio on a gauge and its warning / call / target / withdrawal
lines, available margin, withdrawable cash, positions, notices to acknowledge, deposits received
or held, and links to every other portal page. Reads only: figures come from
lending.valuation.account_view, states and notices from lending.selectors_calls, blockers from
compliance.selectors; the page decides nothing.

Onboarding (see docs/console.md): an investor signs up with an e-mail address and a password
(accounts: sign-up); the investor profile with the identity document and the bank account of
record is created by operations after real-name identity verification, never self-declared.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from compliance import selectors as compliance_selectors
from compliance.models import HeldDeposit
from custody.models import JournalEntry

from . import charts, selectors_book, selectors_calls
from . import selectors as credit_selectors
from .valuation import account_view


def _percent(value) -> str:
    return f"{value * 100:.0f}%"


def ratio_gauge(view) -> str:
    lines = view.lines
    marks = {
        _("Call %(ratio)s") % {"ratio": _percent(lines.call)}: lines.call,
        _("Warning %(ratio)s") % {"ratio": _percent(lines.warning)}: lines.warning,
        _("Target %(ratio)s") % {"ratio": _percent(lines.target)}: lines.target,
        _("Withdrawal %(ratio)s") % {"ratio": _percent(lines.withdrawal)}: lines.withdrawal,
    }
    ratio = view.maintenance_ratio
    label = _("No debt") if ratio is None else f"{ratio * 100:.1f}%"
    return charts.gauge(ratio, lines=marks, title=_("Maintenance ratio"), value_label=label)


def onboarding_steps(profile, *, has_account: bool) -> list[dict]:
    """The steps before borrowing, each with what still blocks it (compliance's answers)."""
    suitability = compliance_selectors.suitability_blockers(profile)
    disclosure = compliance_selectors.disclosure_blockers(profile)
    eligibility = compliance_selectors.eligibility_blockers(profile)
    return [
        {
            "key": "suitability",
            "title": _("Suitability test"),
            "blockers": suitability,
            "url": "portal:compliance-questionnaire",
        },
        {
            "key": "disclosure",
            "title": _("Risk disclosure"),
            "blockers": disclosure,
            "url": "portal:compliance-disclosure",
        },
        {
            "key": "eligibility",
            "title": _("Eligibility checked by the desk"),
            "blockers": eligibility,
            "url": "portal:compliance-overview",
        },
        {
            "key": "credit",
            "title": _("Credit application"),
            "blockers": [] if has_account else [_("No credit account is open yet.")],
            "url": "portal:lending-application-list",
        },
    ]


class PortalHomeView(LoginRequiredMixin, TemplateView):
    template_name = "lending/portal_home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        profile = getattr(user, "investor_profile", None)
        context["profile"] = profile
        if profile is None:
            return context
        account = selectors_book.credit_accounts_for(user).filter(status="open").first()
        view = account_view(account) if account is not None else None
        context.update(
            account=account,
            view=view,
            gauge=mark_safe(ratio_gauge(view)) if view else "",  # noqa: S308 - escaped
            state=selectors_calls.margin_state_of(account) if account else None,
            steps=onboarding_steps(profile, has_account=account is not None),
            applications=credit_selectors.applications_for(user)[:3],
            open_calls=selectors_calls.calls_for(user, status="unfinished")[:5],
            notices=selectors_calls.notices_for(user)
            .filter(channel="portal", acknowledged_at__isnull=True)
            .order_by("-created_at")[:5],
            deposits=JournalEntry.objects.filter(
                kind="deposit",
                postings__account__investor=profile,
                postings__account__purpose="client_money",
            )
            .distinct()
            .order_by("-created_at")[:5],
            held_deposits=HeldDeposit.objects.filter(investor=profile).order_by("-received_at")[:5],
        )
        return context
