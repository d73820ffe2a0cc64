"""Staff pages of the end of day: the runs with their steps' progress, start a date's run,
resume one. No rules here: reports.eod.services acts (and refuses)."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView

from accounts.errors import ApplicationError, get_or_404
from accounts.permissions import StaffPageMixin

from . import services
from .models import EndOfDayStatus


class StartForm(forms.Form):
    business_date = forms.DateField(
        label=gettext_lazy("Business date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)


class ResumeForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)


class EndOfDayMixin(StaffPageMixin):
    permission = "reports.view_endofdayrun"


class EndOfDayListView(EndOfDayMixin, TemplateView):
    template_name = "reports/staff/eod_list.html"
    write_permission = "reports.add_endofdayrun"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        runs = list(services.runs_for(self.request.user).prefetch_related("steps")[:60])
        context.update(
            runs=runs,
            running=any(r.status == EndOfDayStatus.RUNNING for r in runs),
            form=kwargs.get("form") or StartForm(),
            can_start=self.request.user.has_perm("reports.add_endofdayrun"),
        )
        return context

    def post(self, request):
        form = StartForm(request.POST)
        if form.is_valid():
            try:
                run = services.run_start(
                    business_date=form.cleaned_data["business_date"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("End of day started; its steps run on the workers."))
                return redirect("staff:reports-eod-detail", pk=run.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class EndOfDayDetailView(EndOfDayMixin, TemplateView):
    template_name = "reports/staff/eod_detail.html"
    write_permission = "reports.resume_endofdayrun"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = get_or_404(services.run_for, self.request.user, kwargs["pk"])
        context.update(
            run=run,
            steps=list(run.steps.order_by("position")),
            history=run.history.select_related("history_user").order_by("-history_date")[:50],
            form=kwargs.get("form") or ResumeForm(),
            can_resume=run.status != EndOfDayStatus.DONE
            and self.request.user.has_perm("reports.resume_endofdayrun"),
        )
        return context

    def post(self, request, pk: int):
        run = get_or_404(services.run_for, request.user, pk)
        form = ResumeForm(request.POST)
        if form.is_valid():
            try:
                services.run_resume(run=run, actor=request.user, reason=form.cleaned_data["reason"])
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("End of day resumed from the step it reached."))
                return redirect("staff:reports-eod-detail", pk=run.pk)
        return self.render_to_response(self.get_context_data(form=form, pk=pk), status=400)
