"""Portal pages (apply for credit, application status, contracts) and staff pages (the review
queue: prepare as maker, approve or reject as checker; held deposits). Views parse and call
services; the rules are in lending.credit.services and compliance.selectors."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError, get_or_404
from accounts.permissions import InvestorPageMixin, StaffPageMixin
from compliance import selectors as compliance_selectors
from lending.credit import selectors
from lending.credit import services as credit
from lending.credit.forms import (
    ApplicationForm,
    DecisionForm,
    HeldDepositForm,
    PrepareForm,
    RenewalForm,
)


class StaffMixin(StaffPageMixin):
    """Lending's staff pages open with the credit review's view permission unless they name
    another."""

    permission = "lending.view_creditapplication"


# --- portal ---------------------------------------------------------------------------------


class ApplicationListView(InvestorPageMixin, View):
    def _render(self, request, form, renewal_form=None, status=200):
        return render(
            request,
            "lending/credit/applications.html",
            {
                "form": form,
                "renewal_form": renewal_form or RenewalForm(),
                "applications": selectors.applications_for(request.user),
                "contracts": selectors.contracts_for(request.user),
                "active_contract": selectors.active_contract_of(self.investor),
                "blockers": compliance_selectors.credit_blockers(self.investor),
            },
            status=status,
        )

    def get(self, request):
        return self._render(request, ApplicationForm())

    def post(self, request):
        form = ApplicationForm(request.POST)
        if form.is_valid():
            try:
                application = credit.credit_application_submit(
                    investor=self.investor,
                    requested_limit=form.cleaned_data["requested_limit"],
                    requested_term_months=form.cleaned_data["requested_term_months"],
                    purpose=form.cleaned_data["purpose"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Your application was submitted."))
                return redirect("portal:lending-application-detail", pk=application.pk)
        return self._render(request, form, status=400)


class ApplicationDetailView(InvestorPageMixin, View):
    def get(self, request, pk: int):
        application = get_or_404(selectors.application_for, request.user, pk)
        return render(
            request, "lending/credit/application_detail.html", {"application": application}
        )

    def post(self, request, pk: int):
        application = get_or_404(selectors.application_for, request.user, pk)
        try:
            credit.credit_application_withdraw(
                application=application, investor=self.investor, actor=request.user
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Your application was withdrawn."))
        return redirect("portal:lending-application-detail", pk=pk)


class ContractRenewView(InvestorPageMixin, View):
    def post(self, request, pk: int):
        contract = get_or_404(selectors.contract_for, request.user, pk)
        form = RenewalForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose a renewal term."))
            return redirect("portal:lending-application-list")
        try:
            application = credit.credit_renewal_apply(
                contract=contract,
                requested_term_months=form.cleaned_data["requested_term_months"],
                actor=request.user,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("portal:lending-application-list")
        messages.success(request, _("Your renewal request was submitted."))
        return redirect("portal:lending-application-detail", pk=application.pk)


# --- staff ----------------------------------------------------------------------------------


class ReviewQueueView(StaffMixin, View):
    def get(self, request):
        return render(
            request,
            "lending/credit/staff/review_queue.html",
            {
                "queue": selectors.review_queue(request.user),
                "recent": selectors.applications_for(request.user).exclude(
                    status__in=["submitted", "prepared"]
                )[:20],
            },
        )


class ReviewDetailView(StaffMixin, View):
    write_action_field = "step"
    write_permission = {"prepare": credit.PREPARE_PERM, None: credit.APPROVE_PERM}

    def _render(self, request, application, prepare_form=None, decision_form=None, status=200):
        investor = application.investor
        return render(
            request,
            "lending/credit/staff/review_detail.html",
            {
                "application": application,
                "investor": investor,
                "blockers": compliance_selectors.credit_blockers(investor),
                "check": application.eligibility_check,
                "prepare_form": prepare_form
                or PrepareForm(
                    initial={
                        "proposed_limit": application.requested_limit,
                        "proposed_term_months": application.requested_term_months,
                    }
                ),
                "decision_form": decision_form or DecisionForm(),
                "can_prepare": request.user.has_perm(credit.PREPARE_PERM),
                "can_decide": request.user.has_perm(credit.APPROVE_PERM)
                and application.prepared_by_id != request.user.pk,
                "history": application.history.select_related("history_user").order_by(
                    "history_id"
                ),
            },
            status=status,
        )

    def get(self, request, pk: int):
        application = get_or_404(selectors.application_for, request.user, pk)
        return self._render(request, application)

    def post(self, request, pk: int):
        application = get_or_404(selectors.application_for, request.user, pk)
        step = request.POST.get("step")
        if step == "prepare":
            form = PrepareForm(request.POST)
            if form.is_valid():
                try:
                    credit.credit_application_prepare(
                        application=application, actor=request.user, **form.cleaned_data
                    )
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, _("Prepared for approval."))
                    return redirect("staff:lending-review-detail", pk=pk)
            return self._render(request, application, prepare_form=form, status=400)
        form = DecisionForm(request.POST)
        if form.is_valid():
            try:
                if form.cleaned_data["decision"] == "approve":
                    contract = credit.credit_application_approve(
                        application=application,
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                    messages.success(
                        request,
                        _("Approved: contract %(number)s signed.")
                        % {"number": contract.contract_number},
                    )
                else:
                    credit.credit_application_reject(
                        application=application,
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                    messages.success(request, _("Rejected."))
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("staff:lending-review-detail", pk=pk)
        return self._render(request, application, decision_form=form, status=400)


class HeldDepositsView(StaffMixin, View):
    permission = "compliance.view_helddeposit"
    write_permission = "compliance.change_helddeposit"  # release and return alike

    def get(self, request):
        return render(
            request,
            "lending/credit/staff/held_deposits.html",
            {
                "deposits": selectors.held_deposits_for(request.user)[:200],
                "form": HeldDepositForm(),
            },
        )

    def post(self, request):
        deposit = selectors.held_deposits_for(request.user).filter(pk=request.POST.get("deposit"))
        deposit = deposit.first()
        if deposit is None:
            raise Http404("deposit")
        form = HeldDepositForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("A reason is required."))
            return redirect("staff:lending-held-deposits")
        service = (
            credit.held_deposit_release
            if form.cleaned_data["action"] == "release"
            else credit.held_deposit_return
        )
        try:
            service(deposit=deposit, reason=form.cleaned_data["reason"], actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Decision recorded."))
        return redirect("staff:lending-held-deposits")
