"""Pages of the margin-call lifecycle. Portal: the investor's calls and notices (acknowledge a
notice = proof of delivery). Staff: open calls with deadlines, a call's notices and history,
preparing a liquidation (maker), the approval queue and a plan's page (checker, second factor;
execution). Views parse and call services; the rules live in lending.margin_calls.services and
lending.liquidation.services."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError, get_or_404
from accounts.permissions import InvestorPageMixin
from lending.credit.views import StaffMixin
from lending.margin_calls import selectors
from lending.margin_calls import services as calls
from lending.margin_calls.models import MarginCallStatus


class CallsStaffMixin(StaffMixin):
    permission = "lending.view_margincall"


# --- portal ---------------------------------------------------------------------------------


class PortalCallsView(InvestorPageMixin, View):
    @staticmethod
    def _with_money_received(calls) -> list:
        calls = list(calls)
        received = selectors.money_received_since(calls)
        return [(call, received[call.pk]) for call in calls]

    def get(self, request):
        accounts = self.investor.credit_accounts.all()
        return render(
            request,
            "lending/margin_calls/portal_calls.html",
            {
                "states": [selectors.margin_state_of(a) for a in accounts],
                "calls": self._with_money_received(selectors.calls_for(request.user)[:50]),
                "notices": selectors.notices_for(request.user).filter(channel="portal"),
            },
        )


class PortalNoticeAcknowledgeView(InvestorPageMixin, View):
    def post(self, request, pk: int):
        notice = get_or_404(selectors.notice_for, request.user, pk)
        try:
            calls.notice_acknowledge(notice=notice, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Thank you: the notice is acknowledged."))
        return redirect("portal:lending-margin-calls")


# --- staff ----------------------------------------------------------------------------------


class StaffCallsView(CallsStaffMixin, View):
    def get(self, request):
        status = request.GET.get("status") or "unfinished"
        if status not in {*MarginCallStatus.values, "unfinished"}:
            status = "unfinished"
        qs = selectors.calls_for(request.user, status=status)
        if status == "unfinished":
            qs = qs.order_by("deadline", "pk")
        return render(
            request,
            "lending/margin_calls/staff_calls.html",
            {"calls": qs[:500], "status": status, "statuses": MarginCallStatus.choices},
        )
