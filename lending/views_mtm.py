"""Staff page of the mark-to-market: runs with a progress bar refreshed by plain JS polling
the API (static/js/mtm.js), and a "start run" button for the risk role."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError

from .services import mtm
from .views import StaffMixin


class MtmRunsView(StaffMixin, View):
    permission = "lending.view_mtmrun"
    write_permission = mtm.RUN_PERM

    def get(self, request):
        return render(
            request,
            "lending/mtm/staff_runs.html",
            {
                "runs": mtm.runs_recent(50),
                "can_start": request.user.has_perm(mtm.RUN_PERM),
            },
        )

    def post(self, request):
        try:
            run = mtm.mtm_run_start(actor=request.user, trigger="console")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Mark-to-market run %(id)s started.") % {"id": run.pk})
        return redirect("staff:lending-mtm-runs")
