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
    template_name = "reports/staff/statement_list.html"
    write_permission = "reports.add_filing"  # statements_prepare_month's permission

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["statements"] = selectors.statements_visible_to_staff(self.request.user)[:200]
        context["form"] = kwargs.get("form") or StatementMonthForm()
        context["can_request"] = self.request.user.has_perm("reports.add_filing")
        return context

    def post(self, request):
        form = StatementMonthForm(request.POST)
        if form.is_valid():
            try:
                count = services.statements_prepare_month(
                    year=form.cleaned_data["year"],
                    month=form.cleaned_data["month"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("%(count)s statements queued.") % {"count": count})
                return redirect("staff:reports-statements")
        return self.render_to_response(self.get_context_data(form=form))


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
