"""Staff pages of liquidation: a call with its plan (prepare), the queue of plans, one plan
(approve, reject, execute, re-plan the unsold remainder). Views parse and call services or
selectors; no rules here."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError, get_or_404
from lending.liquidation import selectors as liquidation_selectors
from lending.liquidation import services as liquidation
from lending.liquidation.forms import PlanDecisionForm, PlanPrepareForm, PlanReplanForm
from lending.liquidation.models import UNFINISHED_PLAN_STATUSES
from lending.margin_calls import selectors
from lending.margin_calls.models import MarginCallStatus
from lending.margin_calls.views import CallsStaffMixin


class StaffCallDetailView(CallsStaffMixin, View):
    write_permission = liquidation.PREPARE_PERM

    def _render(self, request, call, form=None, status=200):
        return render(
            request,
            "lending/liquidation/staff_call_detail.html",
            {
                "call": call,
                "notices": selectors.notices_for(request.user, call=call),
                "events": selectors.events_of(call),
                "plans": liquidation_selectors.plans_for(request.user).filter(call=call),
                "form": form or PlanPrepareForm(),
                "can_prepare": call.status == MarginCallStatus.OVERDUE
                and request.user.has_perm(liquidation.PREPARE_PERM)
                and not call.plans.filter(status__in=UNFINISHED_PLAN_STATUSES).exists(),
            },
            status=status,
        )

    def get(self, request, pk: int):
        return self._render(request, get_or_404(selectors.call_for, request.user, pk))

    def post(self, request, pk: int):
        call = get_or_404(selectors.call_for, request.user, pk)
        form = PlanPrepareForm(request.POST)
        if form.is_valid():
            try:
                plan = liquidation.liquidation_plan_prepare(
                    call=call,
                    actor=request.user,
                    order_rule=form.cleaned_data["order_rule"],
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("The liquidation plan is prepared for approval."))
                return redirect("staff:lending-liquidation-detail", pk=plan.pk)
        return self._render(request, call, form, status=400)


class LiquidationQueueView(CallsStaffMixin, View):
    permission = "lending.view_liquidationplan"

    def get(self, request):
        plans = liquidation_selectors.plans_for(request.user)
        return render(
            request,
            "lending/liquidation/staff_liquidations.html",
            {
                "waiting": plans.filter(status="prepared").order_by("prepared_at"),
                "in_progress": plans.filter(status__in=("approved", "executing")),
                "recent": plans.filter(status__in=("executed", "stopped", "rejected"))[:50],
            },
        )


class LiquidationDetailView(CallsStaffMixin, View):
    permission = "lending.view_liquidationplan"
    write_action_field = "step"
    write_permission = {
        "execute": liquidation.EXECUTE_PERM,
        "replan": liquidation.PREPARE_PERM,
        None: liquidation.APPROVE_PERM,
    }

    def _render(self, request, plan, form=None, status=200, replan_form=None):
        user = request.user
        return render(
            request,
            "lending/liquidation/staff_plan_detail.html",
            {
                "plan": plan,
                "call": plan.call,
                "form": form or PlanDecisionForm(),
                "can_decide": plan.status == "prepared"
                and user.has_perm(liquidation.APPROVE_PERM)
                and plan.prepared_by_id != user.pk,
                "is_preparer": plan.prepared_by_id == user.pk,
                "can_execute": plan.status in ("approved", "executing")
                and user.has_perm(liquidation.EXECUTE_PERM),
                "orders": liquidation_selectors.orders_of(plan),
                "can_replan": user.has_perm(liquidation.PREPARE_PERM)
                and liquidation_selectors.replannable(plan),
                "replan_form": replan_form or PlanReplanForm(),
                "next_plans": liquidation_selectors.plans_for(user)
                .filter(call=plan.call, prepared_at__gte=plan.prepared_at)
                .exclude(pk=plan.pk),
            },
            status=status,
        )

    def get(self, request, pk: int):
        return self._render(request, get_or_404(liquidation_selectors.plan_for, request.user, pk))

    def post(self, request, pk: int):
        plan = get_or_404(liquidation_selectors.plan_for, request.user, pk)
        step = request.POST.get("step")
        if step == "execute":
            try:
                executed = liquidation.liquidation_execute(plan=plan, actor=request.user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                working = liquidation_selectors.working_orders_of(plan).count()
                if executed.orders_sent:
                    messages.success(
                        request,
                        _("The liquidation orders are placed; the order gateway sends them."),
                    )
                elif working:
                    messages.info(
                        request,
                        _("No new order was sent; orders still working at the exchange: %(count)d.")
                        % {"count": working},
                    )
                else:
                    messages.info(request, _("No new order was sent: nothing is left to sell."))
            return redirect("staff:lending-liquidation-detail", pk=pk)
        if step == "replan":
            replan_form = PlanReplanForm(request.POST)
            if replan_form.is_valid():
                try:
                    result = liquidation.liquidation_replan(
                        plan=plan, actor=request.user, reason=replan_form.cleaned_data["reason"]
                    )
                except ApplicationError as exc:
                    replan_form.add_error(None, exc.message)
                else:
                    if result.pk == plan.pk:
                        messages.info(request, _("Nothing sellable is left: the call is closed."))
                    else:
                        messages.success(
                            request, _("The remainder is re-planned; another officer approves it.")
                        )
                    return redirect("staff:lending-liquidation-detail", pk=result.pk)
            return self._render(request, plan, status=400, replan_form=replan_form)
        form = PlanDecisionForm(request.POST)
        if form.is_valid():
            service = (
                liquidation.liquidation_plan_approve
                if form.cleaned_data["decision"] == "approve"
                else liquidation.liquidation_plan_reject
            )
            try:
                service(plan=plan, actor=request.user, reason=form.cleaned_data["reason"])
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("The decision is recorded."))
                return redirect("staff:lending-liquidation-detail", pk=pk)
        return self._render(request, plan, form, status=400)
