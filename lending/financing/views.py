"""Staff page of money in: the client omnibus bank account's credit lines (import a statement
as CSV; each line credited, held or unmatched, lending.financing.bank_credits) and the return of
an unmatched credit to its sender. Held ones are released or returned on the held-deposits
page. Permissions are declared here and checked again by the services."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from accounts.errors import ApplicationError
from accounts.permissions import InvestorPageMixin, StaffPageMixin
from lending.credit import selectors as credit_selectors
from lending.financing import bank_credits, corporate_actions, maturity, rights, transfers
from lending.financing import services as financing_services
from lending.financing.forms import ExtensionRequestForm, RightsSettleForm
from lending.financing.models import (
    BankCredit,
    CollateralTransferIn,
    CorporateAction,
    CorporateActionKind,
    FinancingExtension,
)
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
    restricted_shares = forms.BooleanField(
        label=gettext_lazy("The confirmation declares restricted (lock-up) shares"),
        required=False,
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


class ConfirmationFileForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Custodian's confirmation file (CSV)"),
        help_text=gettext_lazy(
            "Columns: account_number, instrument, quantity, confirmation_reference "
            "(and optionally restricted_shares: yes or no)."
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
                    restricted_shares=data["restricted_shares"],
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


# --- corporate actions (lending.financing.corporate_actions) -----------------------------------


class CorporateActionForm(forms.Form):
    instrument = forms.CharField(label=gettext_lazy("Instrument (e.g. SSE:600519)"), max_length=24)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=CorporateActionKind.choices)
    record_date = forms.DateField(label=gettext_lazy("Record date"))
    ex_date = forms.DateField(label=gettext_lazy("Ex-date"))
    pay_date = forms.DateField(label=gettext_lazy("Pay date (cash dividends)"), required=False)
    cash_per_share = forms.DecimalField(
        label=gettext_lazy("Cash per share (cash dividends)"),
        max_digits=20,
        decimal_places=4,
        required=False,
    )
    ratio = forms.DecimalField(
        label=gettext_lazy("New shares per share (bonus, split, rights)"),
        max_digits=20,
        decimal_places=4,
        required=False,
    )
    rights_price = forms.DecimalField(
        label=gettext_lazy("Rights price"), max_digits=20, decimal_places=4, required=False
    )
    subscription_end = forms.DateField(
        label=gettext_lazy("Subscription ends (rights)"), required=False
    )
    source_reference = forms.CharField(
        label=gettext_lazy("Issuer's announcement reference"), max_length=200
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


class CorporateActionFileForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Corporate actions file (CSV)"),
        help_text=gettext_lazy(
            "Columns: instrument, kind, record_date, ex_date, pay_date, cash_per_share, ratio, "
            "rights_price, subscription_end, source_reference."
        ),
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)


class CorporateActionsView(StaffPageMixin, View):
    """Corporate actions (dividends, bonus shares, splits, rights): operations enter one or
    import a file (every bad line listed, nothing imported); the daily task books them."""

    permission = "lending.view_corporateaction"
    write_permission = {
        "create": corporate_actions.ADD_PERM,
        "upload": corporate_actions.ADD_PERM,
        "cancel": corporate_actions.CHANGE_PERM,
        None: corporate_actions.ADD_PERM,
    }

    def _render(self, request, form=None, upload_form=None, errors=None, status=200):
        return render(
            request,
            "lending/financing/corporate_actions.html",
            {
                "actions": CorporateAction.objects.select_related("instrument", "created_by")[:200],
                "form": form or CorporateActionForm(),
                "upload_form": upload_form or CorporateActionFileForm(),
                "line_errors": errors or [],
                "can_enter": request.user.has_perm(corporate_actions.ADD_PERM),
            },
            status=status,
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        action = request.POST.get("action")
        if action == "upload":
            upload = CorporateActionFileForm(request.POST, request.FILES)
            if not upload.is_valid():
                return self._render(request, upload_form=upload, status=400)
            file = upload.cleaned_data["file"]
            try:
                result = corporate_actions.corporate_actions_import_csv(
                    content=file.read(),
                    file_name=file.name,
                    actor=request.user,
                    reason=upload.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                errors = exc.extra.get("errors") or []
                if errors:
                    messages.error(
                        request,
                        _("%(count)s bad line(s) in the file: nothing was imported.")
                        % {"count": len(errors)},
                    )
                else:
                    messages.error(request, exc.message)
                return self._render(request, upload_form=upload, errors=errors, status=400)
            messages.success(
                request,
                _("%(count)s corporate actions imported from %(file)s (SHA-256 %(sha)s).")
                % {"count": len(result.created), "file": result.file_name, "sha": result.sha256},
            )
            return redirect("staff:lending-corporate-actions")
        if action == "cancel":
            target = get_object_or_404(CorporateAction, pk=request.POST.get("corporate_action"))
            try:
                corporate_actions.corporate_action_cancel(
                    action=target, actor=request.user, reason=request.POST.get("reason", "")
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return self._render(request, status=400)
            messages.success(request, _("Corporate action cancelled."))
            return redirect("staff:lending-corporate-actions")
        form = CorporateActionForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            reason = data.pop("reason")
            try:
                created = corporate_actions.corporate_action_create(
                    actor=request.user, reason=reason, **data
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Corporate action recorded."))
                return redirect("staff:lending-corporate-action", pk=created.pk)
        return self._render(request, form=form, status=400)


class CorporateActionDetailView(StaffPageMixin, View):
    """One corporate action with its entitlements (holders, cash, shares, entries) and, for a
    rights issue, the subscriptions and the custodian's outcome (operations record it)."""

    permission = "lending.view_corporateaction"
    write_permission = rights.SETTLE_PERM

    def _render(self, request, action, form=None, status=200):
        return render(
            request,
            "lending/financing/corporate_action_detail.html",
            {
                "action": action,
                "entitlements": action.entitlements.select_related(
                    "investor", "credit_account", "ex_entry", "pay_entry"
                ).order_by("investor_id"),
                "subscriptions": rights.subscriptions_for(request.user)
                .filter(entitlement__corporate_action=action)
                .order_by("pk"),
                "settle_form": form or RightsSettleForm(),
                "can_settle": action.kind == CorporateActionKind.RIGHTS
                and action.status == "ex_processed"
                and request.user.has_perm(rights.SETTLE_PERM),
            },
            status=status,
        )

    def _action(self, pk):
        return get_object_or_404(
            CorporateAction.objects.select_related("instrument", "created_by"), pk=pk
        )

    def get(self, request, pk: int):
        return self._render(request, self._action(pk))

    def post(self, request, pk: int):
        action = self._action(pk)
        form = RightsSettleForm(request.POST)
        if not form.is_valid():
            return self._render(request, action, form=form, status=400)
        try:
            rights.rights_settle(action=action, actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            return self._render(request, action, form=form, status=400)
        messages.success(request, _("Rights issue settled from the custodian's confirmation."))
        return redirect("staff:lending-corporate-action", pk=action.pk)


# --- rights subscriptions (lending.financing.rights) --------------------------------------------


class RightsSubscribeView(InvestorPageMixin, View):
    """The investor subscribes rights shares from the account page, paying from own cash."""

    def post(self, request):
        try:
            entitlement = rights.entitlement_for(request.user, request.POST.get("entitlement"))
            rights.rights_subscribe(
                entitlement=entitlement,
                quantity=request.POST.get("quantity", ""),
                actor=request.user,
                idempotency_key=f"portal:{request.user.pk}:"
                f"{request.POST.get('idempotency_key', '')}",
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Rights subscribed and paid from your cash."))
        return redirect(reverse("portal:lending-account") + "#corporate-actions")


class RightsCancelView(InvestorPageMixin, View):
    """The investor withdraws a subscription before the subscription ends (money back)."""

    def post(self, request):
        try:
            subscription = rights.subscription_for(request.user, request.POST.get("subscription"))
            rights.rights_subscription_cancel(
                subscription=subscription, actor=request.user, reason="withdrawn in the portal"
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Subscription cancelled: the money is back in your cash."))
        return redirect(reverse("portal:lending-account") + "#corporate-actions")


# --- maturity and extensions (lending.financing.maturity) --------------------------------------


class FinancingExtensionRequestView(InvestorPageMixin, View):
    """The investor asks for an extension of one of their financings (portal account page):
    the service checks the rules, the page shows its refusal or the request."""

    def post(self, request):
        account = credit_selectors.credit_accounts_for(request.user).filter(status="open").first()
        if account is None:
            raise Http404("no credit account")
        form = ExtensionRequestForm(
            request.POST, financings=maturity.extendable(account, on=maturity.today())
        )
        if not form.is_valid():
            messages.error(request, _("financing: choose one of your financings not yet due"))
            return redirect(reverse("portal:lending-account") + "#extension")
        data = form.cleaned_data
        financing = maturity.financing_for(request.user, data["financing"])
        try:
            maturity.financing_extension_request(
                financing=financing,
                months=data["months"],
                actor=request.user,
                reason=data["reason"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Extension requested: the desk checks and decides it."))
        return redirect(reverse("portal:lending-account") + "#extension")


class MaturitiesView(StaffPageMixin, View):
    """Financings due soon or overdue, and the extension requests: operations check a request,
    a second person (risk) approves or rejects it (four eyes)."""

    permission = "lending.view_financingextension"

    write_permission = {
        "prepare": maturity.PREPARE_PERM,
        "approve": maturity.APPROVE_PERM,
        "reject": maturity.APPROVE_PERM,
        None: maturity.PREPARE_PERM,
    }

    def _render(self, request, status=200):
        return render(
            request,
            "lending/financing/maturities.html",
            {
                **maturity.maturities_overview(on=maturity.today()),
                "can_prepare": request.user.has_perm(maturity.PREPARE_PERM),
                "can_decide": request.user.has_perm(maturity.APPROVE_PERM),
            },
            status=status,
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        action = request.POST.get("action")
        extension = get_object_or_404(FinancingExtension, pk=request.POST.get("extension"))
        reason = request.POST.get("reason", "")
        try:
            if action == "prepare":
                maturity.financing_extension_prepare(
                    extension=extension, actor=request.user, note=reason
                )
            elif action == "approve":
                maturity.financing_extension_approve(
                    extension=extension, actor=request.user, reason=reason
                )
            elif action == "reject":
                maturity.financing_extension_reject(
                    extension=extension, actor=request.user, reason=reason
                )
            else:
                messages.error(request, _("action: unknown"))
                return self._render(request, status=400)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return self._render(request, status=400)
        messages.success(request, _("Extension #%(pk)s: %(action)s.") % {
            "pk": extension.pk,
            "action": {"prepare": _("checked"), "approve": _("approved"),
                       "reject": _("rejected")}[action],
        })  # fmt: skip
        return redirect("staff:lending-maturities")
