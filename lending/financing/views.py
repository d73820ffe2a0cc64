"""Staff page of money in: the client omnibus bank account's credit lines (import a statement
as CSV; each line credited, held or unmatched, lending.financing.bank_credits) and the return of
an unmatched credit to its sender. Held ones are released or returned on the held-deposits
page. Permissions are declared here and checked again by the services."""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from accounts.errors import ApplicationError
from accounts.permissions import StaffPageMixin
from lending.credit import selectors as credit_selectors
from lending.financing import bank_credits, transfers
from lending.financing import services as financing_services
from lending.financing.models import BankCredit, CollateralTransferIn
from lending.instruments import selectors as instruments_selectors


class BankStatementForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Bank statement (CSV)"),
        help_text=gettext_lazy(
            "Columns: line_id, value_date, amount, currency, payer_name, payer_account, "
            "reference (the investor's credit account number)."
        ),
    )


class ReturnForm(forms.Form):
    credit = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


class BankCreditsView(StaffPageMixin, View):
    permission = "lending.view_bankcredit"
    write_permission = {
        "import": bank_credits.IMPORT_PERM,
        "return": bank_credits.RETURN_PERM,
        None: bank_credits.IMPORT_PERM,
    }

    def _render(self, request, form=None, status=200):
        return render(
            request,
            "lending/financing/bank_credits.html",
            {
                "credits": BankCredit.objects.select_related("investor")[:200],
                "form": form or BankStatementForm(),
                "can_import": request.user.has_perm(bank_credits.IMPORT_PERM),
                "can_return": request.user.has_perm(bank_credits.RETURN_PERM),
            },
            status=status,
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        if request.POST.get("action") == "return":
            form = ReturnForm(request.POST)
            if form.is_valid():
                credit = get_object_or_404(BankCredit, pk=form.cleaned_data["credit"])
                try:
                    bank_credits.bank_credit_return(
                        credit=credit, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                    return self._render(request, status=400)
                messages.success(request, _("Credit returned to the sender."))
                return redirect("staff:lending-bank-credits")
            messages.error(request, _("reason: say why the money goes back"))
            return self._render(request, status=400)
        form = BankStatementForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                lines = bank_credits.credit_lines_from_csv(form.cleaned_data["file"].read())
                result = bank_credits.bank_credits_import(
                    lines=lines, source="csv", actor=request.user
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _(
                        "%(credited)s credited, %(held)s held, %(unmatched)s unmatched, "
                        "%(already)s already booked."
                    )
                    % {
                        "credited": result.credited,
                        "held": result.held,
                        "unmatched": result.unmatched,
                        "already": result.already_booked,
                    },
                )
                return redirect("staff:lending-bank-credits")
        return self._render(request, form, status=400)


class TransferInForm(forms.Form):
    account_number = forms.CharField(label=gettext_lazy("Credit account number"), max_length=20)
    instrument = forms.CharField(label=gettext_lazy("Instrument (e.g. SSE:600519)"), max_length=24)
    quantity = forms.DecimalField(label=gettext_lazy("Quantity"), max_digits=20, decimal_places=0)
    confirmation_reference = forms.CharField(
        label=gettext_lazy("Custodian confirmation reference"), max_length=64
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


class ConfirmationFileForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Custodian's confirmation file (CSV)"),
        help_text=gettext_lazy(
            "Columns: account_number, instrument, quantity, confirmation_reference."
        ),
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


class CollateralTransfersView(StaffPageMixin, View):
    """Collateral transfers in (担保品划转): operations prepare one from the custodian's
    confirmation; a second person approves (books the shares) or rejects it."""

    permission = "lending.view_collateraltransferin"
    write_permission = {
        "prepare": transfers.PREPARE_PERM,
        "upload": transfers.PREPARE_PERM,
        "approve": transfers.APPROVE_PERM,
        "reject": transfers.APPROVE_PERM,
        None: transfers.PREPARE_PERM,
    }

    def _render(self, request, form=None, status=200):
        return render(
            request,
            "lending/financing/collateral_transfers.html",
            {
                "transfers": CollateralTransferIn.objects.select_related(
                    "credit_account", "instrument", "prepared_by", "decided_by"
                )[:200],
                "form": form or TransferInForm(),
                "upload_form": ConfirmationFileForm(),
                "can_prepare": request.user.has_perm(transfers.PREPARE_PERM),
                "can_decide": request.user.has_perm(transfers.APPROVE_PERM),
            },
            status=status,
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        action = request.POST.get("action")
        if action == "upload":
            upload = ConfirmationFileForm(request.POST, request.FILES)
            if upload.is_valid():
                try:
                    count = transfers.collateral_transfers_import_csv(
                        content=upload.cleaned_data["file"].read(),
                        actor=request.user,
                        reason=upload.cleaned_data["reason"],
                    )
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                    return self._render(request, status=400)
                messages.success(
                    request,
                    _("%(count)s transfers prepared; a second person approves each.")
                    % {"count": count},
                )
                return redirect("staff:lending-collateral-transfers")
            messages.error(request, _("file: choose the custodian's confirmation file"))
            return self._render(request, status=400)
        if action in ("approve", "reject"):
            transfer = get_object_or_404(CollateralTransferIn, pk=request.POST.get("transfer"))
            try:
                transfers.collateral_transfer_decide(
                    transfer=transfer,
                    approve=action == "approve",
                    actor=request.user,
                    reason=request.POST.get("reason", ""),
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return self._render(request, status=400)
            messages.success(request, _("Transfer %(ref)s: %(status)s.") % {
                "ref": transfer.confirmation_reference,
                "status": _("approved and booked") if action == "approve" else _("rejected"),
            })  # fmt: skip
            return redirect("staff:lending-collateral-transfers")
        form = TransferInForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = credit_selectors.credit_account_by_number(data["account_number"])
                transfers.collateral_transfer_prepare(
                    credit_account=account,
                    instrument=instruments_selectors.instrument_by_code(data["instrument"]),
                    quantity=data["quantity"],
                    confirmation_reference=data["confirmation_reference"],
                    actor=request.user,
                    reason=data["reason"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Transfer prepared; a second person approves it."))
                return redirect("staff:lending-collateral-transfers")
        return self._render(request, form, status=400)


class RepaymentInstructionForm(forms.Form):
    account_number = forms.CharField(label=gettext_lazy("Credit account number"), max_length=20)
    amount = forms.DecimalField(
        label=gettext_lazy("Amount to repay (CNY)"), max_digits=20, decimal_places=2
    )
    reason = forms.CharField(
        label=gettext_lazy("The investor's written instruction (reference)"), max_length=300
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput)


class RepaymentInstructionView(StaffPageMixin, View):
    """Direct repayment from an account's cash on the investor's written instruction
    (operations): interest first, then the oldest financing."""

    permission = "lending.add_financing"
    write_permission = "lending.add_financing"

    def _render(self, request, form=None, status=200):
        import uuid

        return render(
            request,
            "lending/financing/repayment_instruction.html",
            {
                "form": form
                or RepaymentInstructionForm(initial={"idempotency_key": uuid.uuid4().hex})
            },
            status=status,
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        form = RepaymentInstructionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = credit_selectors.credit_account_by_number(data["account_number"])
                result = financing_services.repayment_post(
                    credit_account=account,
                    amount=data["amount"],
                    actor=request.user,
                    idempotency_key=f"staff:{request.user.pk}:{data['idempotency_key']}",
                    reason=data["reason"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Repaid %(total)s: interest %(interest)s, principal %(principal)s.")
                    % {
                        "total": f"{result.total:,.2f}",
                        "interest": f"{result.interest_repaid:,.2f}",
                        "principal": f"{result.principal_repaid:,.2f}",
                    },
                )
                return redirect("staff:lending-repayment-instruction")
        return self._render(request, form, status=400)
