"""Book pages: staff instruments and haircuts, price upload; the investor's account and its
withdrawal form. Views parse and call services or selectors; no rules here."""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError, NotFound
from accounts.permissions import InvestorPageMixin

from . import selectors_book as sel
from .forms_book import (
    CashWithdrawalForm,
    FlagsForm,
    HaircutForm,
    InstrumentFilterForm,
    PriceUploadForm,
    SecuritiesWithdrawalForm,
)
from .models import Instrument
from .services import book
from .valuation import account_view
from .views import StaffMixin


class InstrumentListView(StaffMixin, View):
    permission = "lending.view_instrument"

    def get(self, request):
        form = InstrumentFilterForm(request.GET or None)
        filters = form.cleaned_data if form.is_valid() else {}
        qs = sel.instruments(**{k: v for k, v in filters.items() if v})
        page = Paginator(qs, 50).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return render(
            request,
            "lending/book/instruments.html",
            {"form": form, "page": page, "query": query.urlencode()},
        )


class InstrumentEditView(StaffMixin, View):
    permission = "lending.view_instrument"
    write_permission = "lending.change_instrument"  # haircut and flags alike

    def _render(self, request, instrument, haircut_form=None, flags_form=None, status=200):
        return render(
            request,
            "lending/book/instrument_edit.html",
            {
                "instrument": instrument,
                "cap": book.haircut_cap(instrument.category),
                "haircut_form": haircut_form
                or HaircutForm(
                    initial={
                        "haircut": instrument.haircut,
                        "collateral_eligible": instrument.collateral_eligible,
                        "financing_eligible": instrument.financing_eligible,
                    }
                ),
                "flags_form": flags_form
                or FlagsForm(
                    initial={
                        "is_st": instrument.is_st,
                        "suspended": instrument.suspended,
                        "delisting": instrument.delisting,
                    }
                ),
                "history": instrument.history.select_related("history_user").order_by(
                    "-history_id"
                )[:20],
                "stale": sel.price_is_stale(instrument),
            },
            status=status,
        )

    def get(self, request, pk: int):
        instrument = get_object_or_404(Instrument.objects.select_related("latest_price"), pk=pk)
        return self._render(request, instrument)

    def post(self, request, pk: int):
        instrument = get_object_or_404(Instrument, pk=pk)
        if request.POST.get("action") == "flags":
            form = FlagsForm(request.POST)
            if form.is_valid():
                try:
                    book.instrument_flags_set(
                        instrument=instrument, actor=request.user, **form.cleaned_data
                    )
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, _("Flags saved."))
                    return redirect("staff:lending-instrument-edit", pk=pk)
            return self._render(request, instrument, flags_form=form, status=400)
        form = HaircutForm(request.POST)
        if form.is_valid():
            try:
                book.haircut_set(instrument=instrument, actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Haircut saved."))
                return redirect("staff:lending-instrument-edit", pk=pk)
        return self._render(request, instrument, haircut_form=form, status=400)


class PriceUploadView(StaffMixin, View):
    permission = "lending.add_pricetick"
    write_permission = "lending.add_pricetick"

    def get(self, request):
        return render(request, "lending/book/price_upload.html", {"form": PriceUploadForm()})

    def post(self, request):
        form = PriceUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                accepted, ignored = book.prices_import_csv(
                    content=form.cleaned_data["file"].read(), source="upload", actor=request.user
                )
            except ApplicationError as exc:
                form.add_error("file", exc.message)
            else:
                messages.success(
                    request,
                    _("%(accepted)s ticks accepted, %(ignored)s ignored.")
                    % {"accepted": accepted, "ignored": ignored},
                )
                return redirect("staff:lending-price-upload")
        return render(request, "lending/book/price_upload.html", {"form": form}, status=400)


class AccountView(InvestorPageMixin, View):
    """The investor's credit account: assets, debt, ratio with its lines, margin, positions,
    recent withdrawals, and the two withdrawal forms (cash; own shares transferred out). The
    form posted is told apart by its `action` field (cash when absent)."""

    def _account(self, request):
        account = sel.credit_accounts_for(request.user).filter(status="open").first()
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

    def _render(self, request, account, view, *, cash_form=None, securities_form=None, status=200):
        return render(
            request,
            "lending/book/account.html",
            {
                "view": view,
                "state": sel.margin_state(account),
                "financings": sel.financings_of(account, open_only=True),
                "withdrawals": sel.withdrawals_of(account).order_by("-created_at")[:10],
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
        if isinstance(form, SecuritiesWithdrawalForm):
            book.securities_withdrawal_request(
                instrument=sel.instrument_by_code(data["instrument"]),
                quantity=data["quantity"],
                **common,
            )
        else:
            book.cash_withdrawal_request(amount=data["amount"], **common)
