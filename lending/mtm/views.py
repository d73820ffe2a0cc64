"""Staff page of the mark-to-market: runs with a progress bar refreshed by plain JS polling
the API (static/js/mtm.js), and a "start run" button for the risk role."""

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError, get_or_404
from lending.credit.views import StaffMixin
from lending.mtm import services as mtm
from lending.mtm import snapshots
from lending.mtm.models import MtmRunStatus


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
                # the status labels in the reader's language, for the page's polling script
                "status_labels": {value: str(label) for value, label in MtmRunStatus.choices},
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


class MtmRunFiguresCsvView(StaffMixin, View):
    """Every account's figures of one run as CSV (lending.mtm.snapshots.figures_csv), streamed."""

    permission = "lending.view_mtmrun"

    def get(self, request, pk: int):
        run = get_or_404(mtm.run_for, pk)
        response = StreamingHttpResponse(
            snapshots.figures_csv(run.pk), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="mtm-run-{run.pk}-figures.csv"'
        return response
