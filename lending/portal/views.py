"""The investor portal's home (/portal/, "portal:home"): the account overview.

Profile, onboarding steps still open (suitability, disclosure, declaration, credit), the credit
account's figures with the maintenance ratio on a gauge and its warning / call / target / withdrawal
lines, available margin, withdrawable cash, positions, notices to acknowledge, deposits received
or held with the deposit instructions (the desk's receiving account and the reference to quote,
lending.portal.history.deposit_instructions), and links to every other portal page. The
account's history (every movement from the ledger, page and CSV) is HistoryView. Reads only:
figures come from lending.financing.valuation.account_view, states and notices from
lending.margin_calls.selectors, blockers from compliance.selectors; the page decides nothing.

Onboarding (see docs/console.md): an investor signs up with an e-mail address and a password
(accounts: sign-up); the investor profile with the identity document and the bank account of
record is created by operations after real-name identity verification, never self-declared.
"""

import csv
import io
import uuid
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from accounts.api_errors import validation_body
from accounts.errors import ApplicationError, NotFound, ValidationFailed
from accounts.permissions import InvestorPageMixin
from compliance import selectors as compliance_selectors
from compliance.models import HeldDeposit
from custody.models import Posting
from lending.credit import selectors as credit_selectors
from lending.domain import charts
from lending.domain.formats import fmt, fmt_shares
from lending.financing import corporate_actions, maturity
from lending.financing import selectors as financing_selectors
from lending.financing import services as financing_services
from lending.financing.forms import (
    CashWithdrawalForm,
    ExtensionRequestForm,
    RepaymentForm,
    SecuritiesWithdrawalForm,
)
from lending.financing.short_sales import short_return_direct
from lending.financing.valuation import account_view
from lending.instruments import selectors as instruments_selectors
from lending.margin_calls import selectors as margin_call_selectors
from lending.portal import history, simulator
from lending.portal import selectors as portal_selectors
from lending.portal.api import LeverageInputSerializer
from lending.portal.forms import ShortReturnForm
from lending.shorts import proceeds as short_proceeds


class AccountView(InvestorPageMixin, View):
    """The investor's credit account: assets, debt, ratio with its lines, margin, positions,
    recent withdrawals, the two withdrawal forms (cash; own shares transferred out) and the
    direct repayment from cash. The form posted is told apart by its `action` field (cash
    withdrawal when absent)."""

    def _account(self, request):
        account = credit_selectors.credit_accounts_for(request.user).filter(status="open").first()
        if account is None:
            raise Http404("no credit account")
        return account

    @staticmethod
    def _holdings(view) -> list[tuple[str, str]]:
        return [
            (p.instrument.ledger_unit, f"{p.instrument.ledger_unit} {p.instrument.name}")
            for p in view.positions
            if p.own_quantity > 0
        ]

    def _render(
        self,
        request,
        account,
        view,
        *,
        cash_form=None,
        securities_form=None,
        repay_form=None,
        status=200,
    ):
        recent_withdrawals = financing_selectors.withdrawals_of(account).order_by("-created_at")
        recent_withdrawals = recent_withdrawals[:10]
        return render(
            request,
            "lending/portal/account.html",
            {
                "view": view,
                "state": portal_selectors.margin_state_label(account),
                "financings": financing_selectors.financings_of(account, open_only=True),
                "withdrawals": recent_withdrawals,
                "transfers_in": financing_selectors.transfers_in_of(account),
                "entitlements": corporate_actions.entitlements_of(account),
                "rights_key": uuid.uuid4().hex,  # the rights subscription form's idempotency key
                "extension_form": ExtensionRequestForm(
                    financings=maturity.extendable(account, on=maturity.today())
                ),
                "extensions": maturity.extensions_for(request.user).filter(credit_account=account),
                "withdrawable": [
                    (p, view.withdrawable_quantity(p.instrument))
                    for p in view.positions
                    if p.own_quantity > 0
                ],
                "form": cash_form
                or CashWithdrawalForm(initial={"idempotency_key": uuid.uuid4().hex}),
                "securities_form": securities_form
                or SecuritiesWithdrawalForm(
                    holdings=self._holdings(view), initial={"idempotency_key": uuid.uuid4().hex}
                ),
                "repay_form": repay_form
                or RepaymentForm(initial={"idempotency_key": uuid.uuid4().hex}),
            },
            status=status,
        )

    def get(self, request):
        account = self._account(request)
        return self._render(request, account, account_view(account))

    def post(self, request):
        """Either form: validate, call its service, show the refusal on its field (the page
        re-rendered at the valuation read before the refused call, which changed nothing)."""
        account = self._account(request)
        view = account_view(account)
        if request.POST.get("action") == "securities":
            form = SecuritiesWithdrawalForm(request.POST, holdings=self._holdings(view))
            field, done, slot = (
                "quantity",
                _("Shares transferred out of your credit account."),
                "securities_form",
            )
        elif request.POST.get("action") == "repay":
            form = RepaymentForm(request.POST)
            field, done, slot = ("amount", _("Repayment booked."), "repay_form")
        else:
            form = CashWithdrawalForm(request.POST)
            field, done, slot = (
                "amount",
                _("Withdrawal sent to your bank account of record."),
                "cash_form",
            )
        if form.is_valid():
            try:
                self._withdraw(request, account, form)
            except (ApplicationError, NotFound) as exc:
                form.add_error(field, exc.message)
            else:
                messages.success(request, done)
                return redirect("portal:lending-account")
        return self._render(request, account, view, status=400, **{slot: form})

    @staticmethod
    def _withdraw(request, account, form) -> None:
        data = form.cleaned_data
        common = {
            "credit_account": account,
            "actor": request.user,
            "idempotency_key": f"portal:{request.user.pk}:{data['idempotency_key']}",
            "reason": data["reason"],
        }
        if isinstance(form, RepaymentForm):
            financing_services.repayment_post(amount=data["amount"], **common)
        elif isinstance(form, SecuritiesWithdrawalForm):
            financing_services.securities_withdrawal_request(
                instrument=instruments_selectors.instrument_by_code(data["instrument"]),
                quantity=data["quantity"],
                **common,
            )
        else:
            financing_services.cash_withdrawal_request(amount=data["amount"], **common)


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
    declaration = compliance_selectors.restricted_declaration_blockers(profile)
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
            "key": "restricted",
            "title": _("Declaration of positions in listed companies"),
            "blockers": declaration,
            "url": "portal:compliance-restricted-holdings",
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
    template_name = "lending/portal/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        profile = getattr(user, "investor_profile", None)
        context["profile"] = profile
        if profile is None:
            return context
        account = credit_selectors.credit_accounts_for(user).filter(status="open").first()
        view = account_view(account) if account is not None else None
        context.update(
            account=account,
            view=view,
            gauge=mark_safe(ratio_gauge(view)) if view else "",  # noqa: S308 - escaped
            state=margin_call_selectors.margin_state_of(account) if account else None,
            steps=onboarding_steps(profile, has_account=account is not None),
            applications=credit_selectors.applications_for(user)[:3],
            open_calls=margin_call_selectors.calls_for(user, status="unfinished")[:5],
            notices=margin_call_selectors.notices_for(user)
            .filter(channel="portal", acknowledged_at__isnull=True)
            .order_by("-created_at")[:5],
            deposits=[
                # the amount credited to the client's money (a credit: negative in the ledger)
                {"at": p.entry.created_at, "amount": -p.amount, "currency": p.unit}
                for p in Posting.objects.filter(
                    entry__kind="deposit",
                    account__investor=profile,
                    account__purpose="client_money",
                )
                .select_related("entry")
                .order_by("-entry__created_at", "-pk")[:5]
            ],
            held_deposits=HeldDeposit.objects.filter(investor=profile).order_by("-received_at")[:5],
            deposit_instructions=history.deposit_instructions(account),
        )
        return context


class ShortPositionsView(InvestorPageMixin, View):
    """The investor's short positions (融券负债, /portal/lending/shorts/positions/): per
    instrument the shares owed, the sale price and short-sale amount owed, the market value,
    the profit or loss, the due date and the fees accrued, each position with its extension
    link; the account's restricted proceeds, lending fees owed and the short margin ratio in
    force; a "Buy to cover" link to the order form prefilled, and the direct return
    (直接还券) form. Reads from lending.portal.selectors.short_book; the return is
    lending.financing.short_sales.short_return_direct, its refusal shown on the field it
    names."""

    def _account(self, request):
        account = credit_selectors.credit_accounts_for(request.user).filter(status="open").first()
        if account is None:
            raise Http404("no credit account")
        return account

    @staticmethod
    def _owed(book) -> list[tuple[str, str]]:
        return [
            (row.instrument.ledger_unit, f"{row.instrument.ledger_unit} {row.instrument.name}")
            for row in book.rows
        ]

    def _render(self, request, account, book, form=None, status=200):
        return render(
            request,
            "lending/portal/short_positions.html",
            {
                "account": account,
                "book": book,
                "view": book.view,
                # units bought with the restricted proceeds (money-market / government)
                "restricted_holdings": list(short_proceeds.restricted_holdings(account)),
                "form": form
                or ShortReturnForm(
                    owed=self._owed(book), initial={"idempotency_key": uuid.uuid4().hex}
                ),
            },
            status=status,
        )

    def get(self, request):
        account = self._account(request)
        return self._render(request, account, portal_selectors.short_book(account))

    def post(self, request):
        account = self._account(request)
        book = portal_selectors.short_book(account)
        form = ShortReturnForm(request.POST, owed=self._owed(book))
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = short_return_direct(
                    credit_account=account,
                    instrument=instruments_selectors.instrument_by_code(data["instrument"]),
                    quantity=data["quantity"],
                    actor=request.user,
                    idempotency_key=f"portal:{request.user.pk}:{data['idempotency_key']}",
                    reason=data["reason"],
                )
            except (ApplicationError, NotFound) as exc:
                named = exc.extra.get("field")
                form.add_error(named if named in form.fields else None, exc.message)
            else:
                messages.success(
                    request,
                    _(
                        "%(quantity)s shares of %(instrument)s returned: %(released)s of "
                        "restricted proceeds released, %(fees)s of lending fees paid."
                    )
                    % {
                        "quantity": fmt_shares(result.quantity),
                        "instrument": data["instrument"],
                        "released": fmt(result.proceeds_released),
                        "fees": fmt(result.fees_paid),
                    },
                )
                return redirect("portal:lending-short-positions")
        return self._render(request, account, book, form, status=400)


class HistoryView(InvestorPageMixin, View):
    """Every movement on the investor's credit account, newest first, from the custody ledger
    (lending.portal.history): filtered by business date (`from`, `to`), 50 a page, and the
    same rows as CSV (`?format=csv`, columns in docs/investor-history.md). `?account=` picks
    one of the investor's own accounts (another's: 404); without it, the open one."""

    PER_PAGE = 50

    def get(self, request):
        try:
            account = portal_selectors.history_account_of(request.user, request.GET.get("account"))
        except NotFound as exc:  # another investor's account, or no such account
            raise Http404(exc.message) from None
        if account is None:
            raise Http404("no credit account")
        error = None
        try:
            period = history.period_parsed(request.GET.get("from"), request.GET.get("to"))
        except ValidationFailed as exc:
            error, period = exc.message, None
        if period is not None and request.GET.get("format") == "csv":
            return self._csv(account, period)
        page = None
        if period is not None:
            paginator = Paginator(history.History(account, period), self.PER_PAGE)
            page = paginator.get_page(request.GET.get("page"))
        return render(
            request,
            "lending/portal/history.html",
            {
                "account": account,
                "period": period,
                "page": page,
                "error": error,
                "values": {k: request.GET.get(k, "") for k in ("from", "to")},
                "query": _history_query(account, period),
            },
            status=400 if error else 200,
        )

    @staticmethod
    def _csv(account, period) -> HttpResponse:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows(history.csv_lines(history.History(account, period).all()))
        # UTF-8 with a byte-order mark: spreadsheets then read the Chinese descriptions right
        response = HttpResponse(
            out.getvalue().encode("utf-8-sig"), content_type="text/csv; charset=utf-8"
        )
        span = "-".join(d.isoformat() for d in (period.start, period.end) if d) or "all"
        response["Content-Disposition"] = (
            f'attachment; filename="history-{account.account_number}-{span}.csv"'
        )
        return response


def _history_query(account, period) -> str:
    """The page's filter as a query string, for its pages' and the CSV's links."""
    parts = [f"account={account.pk}"]
    if period is not None and period.query:
        parts.append(period.query)
    return "&".join(parts)


DEFAULTS = {
    "own_capital": "100000",
    "leverage": "2",
    "asset_return": "0.10",
    "fee_rate": "0.001",
    "borrow_rate": "0.07",
    "price_drop": "0.20",
}


def _checked(values: dict[str, str]) -> dict:
    """The page's query string passes the same field rules as the API body (finite, plain
    decimals within the columns' digits), so a value like 1e999 is named, never a 500."""
    body = LeverageInputSerializer(data={f: v for f, v in values.items() if v != ""})
    if not body.is_valid():
        error = validation_body(body.errors)
        raise ValidationFailed(error["message"], extra=error["extra"])
    return dict(body.validated_data)


class LeverageSimulatorView(TemplateView):
    """Open to everyone, signed in or not: education before borrowing."""

    template_name = "lending/portal/simulator.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        values = {f: self.request.GET.get(f, DEFAULTS[f]).strip() for f in DEFAULTS}
        context["values"] = values
        try:
            result = simulator.simulate(_checked(values))
        except ValidationFailed as exc:
            context["error"] = exc.message
            context["error_field"] = exc.extra.get("field")
            fee, borrow = Decimal(DEFAULTS["fee_rate"]), Decimal(DEFAULTS["borrow_rate"])
        else:
            context["result"] = result.as_dict()
            context["leverage"] = f"{result.inputs.leverage.normalize():f}"
            context["percent"] = {
                "equity_return": f"{result.outcome.equity_return * 100:.2f}%",
                "wipeout_drop": f"{result.outcome.wipeout_drop * 100:.2f}%",
            }
            fee, borrow = result.inputs.fee_rate, result.inputs.borrow_rate
        returns_svg, drops_svg = simulator.chart_markup(fee_rate=fee, borrow_rate=borrow)
        context["returns_svg"] = mark_safe(returns_svg)  # noqa: S308  (generated, escaped SVG)
        context["drops_svg"] = mark_safe(drops_svg)  # noqa: S308
        return context
