"""Staff pages to review, approve and submit filings; the portal's statement downloads.
No rules here: services act (and refuse), selectors decide who sees what."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from accounts.errors import ApplicationError, NotFound, get_or_404
from accounts.permissions import StaffPageMixin

from . import downloads, kinds, selectors, services
from .forms import FilingActionForm, FilingRequestForm, StatementMonthForm


class StaffReportsMixin(StaffPageMixin):
    permission = "reports.view_filing"


class FilingListView(StaffReportsMixin, TemplateView):
    template_name = "reports/staff/filing_list.html"
    write_permission = "reports.add_filing"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        context["filings"] = selectors.filing_list(
            user=self.request.user, kind=params.get("kind"), status=params.get("status")
        )[:200]
        context["kinds"] = kinds.kinds_all()
        context["kind_titles"] = {kind.code: kind.title for kind in context["kinds"]}
        context["form"] = kwargs.get("form") or FilingRequestForm()
        context["can_request"] = self.request.user.has_perm("reports.add_filing")
        return context

    def post(self, request):
        form = FilingRequestForm(request.POST)
        if form.is_valid():
            try:
                filing = services.filing_request(
                    kind=form.cleaned_data["kind"],
                    as_of=form.cleaned_data["as_of"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Filing requested; it is being generated."))
                return redirect("staff:reports-filing-detail", pk=filing.pk)
        return self.render_to_response(self.get_context_data(form=form))


class FilingDetailView(StaffReportsMixin, TemplateView):
    template_name = "reports/staff/filing_detail.html"
    write_permission = {
        "approve": "reports.approve_filing",
        "submit": "reports.submit_filing",
        "regenerate": "reports.change_filing",
        None: "reports.add_filing",  # correct: the branch any other action falls to
    }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filing = get_or_404(selectors.filing_get, user=self.request.user, filing_id=kwargs["pk"])
        user = self.request.user
        context.update(
            filing=filing,
            kind=kinds.KINDS.get(filing.kind),
            history=selectors.filing_history(filing=filing),
            replacement=getattr(filing, "replaced_by", None),
            can_approve=user.has_perm("reports.approve_filing"),
            can_change=user.has_perm("reports.change_filing"),
            can_correct=user.has_perm("reports.add_filing"),
        )
        return context

    def post(self, request, pk: int):
        filing = get_or_404(selectors.filing_get, user=request.user, filing_id=pk)
        form = FilingActionForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("A reason is required."))
            return redirect("staff:reports-filing-detail", pk=pk)
        data = form.cleaned_data
        action = data["action"]
        try:
            if action == "approve":
                result = services.filing_approve(
                    filing=filing, actor=request.user, reason=data["reason"]
                )
            elif action == "submit":
                result = services.filing_submit(
                    filing=filing,
                    actor=request.user,
                    reason=data["reason"],
                    submission_reference=data["submission_reference"],
                )
            elif action == "regenerate":
                result = services.filing_regenerate(
                    filing=filing, actor=request.user, reason=data["reason"]
                )
            else:
                result = services.filing_correct(
                    filing=filing, actor=request.user, reason=data["reason"]
                )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("staff:reports-filing-detail", pk=pk)
        messages.success(request, _("Done."))
        return redirect("staff:reports-filing-detail", pk=result.pk)


class FilingDownloadView(StaffReportsMixin, View):
    def get(self, request, pk: int, fmt: str):
        filing = get_or_404(selectors.filing_get, user=request.user, filing_id=pk)
        try:
            return downloads.filing_file_response(filing, fmt)
        except NotFound as exc:
            raise Http404(exc.message) from exc


class StaffStatementListView(StaffReportsMixin, TemplateView):
    """The month's statement runs with their progress, the form that starts one, and the
    latest statements."""

    template_name = "reports/staff/statement_list.html"
    write_permission = "reports.add_filing"  # statement_run_start's permission

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context["runs"] = runs = list(selectors.statement_runs_visible_to(user)[:60])
        context["any_running"] = any(r.status in ("queued", "running") for r in runs)
        context["statements"] = selectors.statements_visible_to_staff(user)[:200]
        context["form"] = kwargs.get("form") or StatementMonthForm(initial=_last_month())
        context["can_request"] = user.has_perm("reports.add_filing")
        return context

    def post(self, request):
        form = StatementMonthForm(request.POST)
        if form.is_valid():
            try:
                run = services.statement_run_start(
                    year=form.cleaned_data["year"],
                    month=form.cleaned_data["month"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request, _("%(count)s statements queued.") % {"count": run.accounts}
                )
                return redirect("staff:reports-statement-run", pk=run.pk)
        return self.render_to_response(self.get_context_data(form=form))


def _int_or_404(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise Http404("no such statement") from exc


def _last_month() -> dict:
    year, month = services.last_month()
    return {"year": year, "month": month}


class StaffStatementRunView(StaffReportsMixin, TemplateView):
    """One run: progress, the failed accounts with their error, "retry failed"."""

    template_name = "reports/staff/statement_run_detail.html"
    write_permission = "reports.add_filing"  # statement_run_retry_failed's permission
    failed_shown = 500

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = get_or_404(selectors.statement_run_get, user=self.request.user, run_id=kwargs["pk"])
        failed = selectors.statement_run_failed(run=run)
        context.update(
            run=run,
            counts=selectors.statement_run_counts(run=run),
            failed=failed[: self.failed_shown],
            failed_shown=self.failed_shown,
            history=selectors.statement_run_history(run=run),
            can_retry=self.request.user.has_perm("reports.add_filing"),
        )
        return context

    def post(self, request, pk: int):
        run = get_or_404(selectors.statement_run_get, user=request.user, run_id=pk)
        reason = request.POST.get("reason", "")
        try:
            if request.POST.get("statement"):  # one failed account, on its own
                statement = get_or_404(
                    selectors.statement_get_for_staff,
                    user=request.user,
                    statement_id=_int_or_404(request.POST["statement"]),
                )
                if statement.run_id != run.pk:
                    raise Http404("not a statement of this run")
                services.statement_request(
                    investor=statement.investor,
                    year=statement.period_start.year,
                    month=statement.period_start.month,
                    actor=request.user,
                    reason=reason or "retry of one failed statement",
                )
            else:
                services.statement_run_retry_failed(run=run, actor=request.user, reason=reason)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, _("The failed statements are queued again; the others are unchanged.")
            )
        return redirect("staff:reports-statement-run", pk=pk)


class StaffStatementDownloadView(StaffReportsMixin, View):
    def get(self, request, pk: int):
        statement = get_or_404(
            selectors.statement_get_for_staff, user=request.user, statement_id=pk
        )
        try:
            return downloads.statement_file_response(statement)
        except NotFound as exc:
            raise Http404(exc.message) from exc


class PortalStatementListView(LoginRequiredMixin, TemplateView):
    template_name = "reports/portal/statement_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["statements"] = selectors.statements_for_investor_user(self.request.user)
        return context


class PortalStatementDownloadView(LoginRequiredMixin, View):
    def get(self, request, pk: int):
        statement = get_or_404(
            selectors.statement_get_for_investor, user=request.user, statement_id=pk
        )
        return downloads.statement_file_response(statement)
