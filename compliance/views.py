"""Portal pages (the investor's suitability test, disclosures, professional request) and staff
pages (trading calendar, daily-asset import, professional-request assessment, the investor file:
classification, eligibility facts and checks, refused requests, red flags). Rules live in
services and selectors; these views parse, call, and render."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts import services as account_services
from accounts.errors import ApplicationError
from accounts.models import InvestorCategory
from accounts.permissions import InvestorPageMixin, StaffPageMixin

from . import calendar, selectors, services
from .forms import (
    CalendarYearForm,
    ClassificationForm,
    DailyAssetsUploadForm,
    DecisionForm,
    EligibilityFactsForm,
    EligibilityFactsUploadForm,
    IdentityVerifiedForm,
    ProfessionalRequestForm,
    QuestionnaireForm,
    RedFlagResolveForm,
    RefusalForm,
)
from .models import (
    CalendarYear,
    EligibilityCheck,
    EligibilityFacts,
    ProfessionalTreatmentRequest,
    RedFlag,
)


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:400]


# --- portal ---------------------------------------------------------------------------------


class OverviewView(InvestorPageMixin, View):
    def get(self, request):
        investor = self.investor
        product = selectors.margin_product()
        return render(
            request,
            "compliance/portal/overview.html",
            {
                "investor": investor,
                "assessment": selectors.latest_assessment(investor),
                "valid_assessment": selectors.valid_assessment(investor),
                "match": selectors.current_match(investor, product),
                "product": product,
                "product_level": selectors.product_risk_level(product),
                "disclosure": selectors.current_disclosure(),
                "credit_blockers": selectors.credit_blockers(investor),
                "drawdown_blockers": selectors.drawdown_blockers(investor),
                "is_professional": selectors.is_professional(investor),
                "requests": investor.professional_requests.all()[:5],
            },
        )


class QuestionnaireView(InvestorPageMixin, View):
    def _questionnaire(self):
        questionnaire = selectors.active_questionnaire()
        if questionnaire is None:
            raise Http404("no questionnaire in use")
        return questionnaire

    def get(self, request):
        questionnaire = self._questionnaire()
        form = QuestionnaireForm(questionnaire=questionnaire)
        return render(
            request,
            "compliance/portal/questionnaire.html",
            {"form": form, "questionnaire": questionnaire},
        )

    def post(self, request):
        questionnaire = self._questionnaire()
        form = QuestionnaireForm(request.POST, questionnaire=questionnaire)
        if form.is_valid():
            try:
                assessment = services.assessment_submit(
                    investor=self.investor,
                    answers=form.answers(),
                    actor=request.user,
                    questionnaire=questionnaire,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Your answers have been recorded."))
                return redirect("portal:compliance-assessment-detail", pk=assessment.pk)
        return render(
            request,
            "compliance/portal/questionnaire.html",
            {"form": form, "questionnaire": questionnaire},
            status=400,
        )


class AssessmentDetailView(InvestorPageMixin, View):
    def get(self, request, pk: int):
        assessment = selectors.assessments_for(request.user).filter(pk=pk).first()
        if assessment is None:
            raise Http404("assessment")
        return render(
            request, "compliance/portal/assessment_detail.html", {"assessment": assessment}
        )


class SuitabilityView(InvestorPageMixin, View):
    """Match the margin-financing product; show and confirm the written warning."""

    def post(self, request):
        product = selectors.margin_product()
        try:
            if request.POST.get("action") == "confirm":
                match = selectors.current_match(self.investor, product)
                if match is None:
                    raise Http404("match")
                services.suitability_warning_confirm(
                    match=match,
                    investor=self.investor,
                    ip_address=client_ip(request),
                    user_agent=user_agent(request),
                    actor=request.user,
                )
                messages.success(request, _("Your confirmation of the warning is recorded."))
            else:
                match = services.suitability_match_record(
                    investor=self.investor, product=product, actor=request.user
                )
                if match.outcome == "refused":
                    messages.error(
                        request,
                        _("Margin financing is not available to the lowest risk category."),
                    )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("portal:compliance-overview")


class DisclosureView(InvestorPageMixin, View):
    def get(self, request):
        document = selectors.current_disclosure()
        acknowledged = (
            document is not None
            and selectors.acknowledgements_for(request.user).filter(document=document).exists()
        )
        return render(
            request,
            "compliance/portal/disclosure.html",
            {
                "document": document,
                "acknowledged": acknowledged,
                "history": selectors.acknowledgements_for(request.user),
            },
        )

    def post(self, request):
        document = selectors.current_disclosure()
        if document is None or str(document.pk) != request.POST.get("document"):
            messages.error(request, _("A newer version was published: read it before you accept."))
            return redirect("portal:compliance-disclosure")
        try:
            services.disclosure_acknowledge(
                investor=self.investor,
                document=document,
                ip_address=client_ip(request),
                user_agent=user_agent(request),
                actor=request.user,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Acknowledgement recorded."))
        return redirect("portal:compliance-disclosure")


class ProfessionalRequestView(InvestorPageMixin, View):
    def get(self, request):
        return render(
            request,
            "compliance/portal/professional_request.html",
            {"form": ProfessionalRequestForm(), "warning": services.PROFESSIONAL_WARNING},
        )

    def post(self, request):
        form = ProfessionalRequestForm(request.POST)
        if form.is_valid():
            try:
                services.professional_request_submit(
                    investor=self.investor,
                    financial_assets=form.cleaned_data["financial_assets"],
                    average_income_3y=form.cleaned_data["average_income_3y"],
                    experience_years=form.cleaned_data["experience_years"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Your request was sent to the compliance team."))
                return redirect("portal:compliance-overview")
        return render(
            request,
            "compliance/portal/professional_request.html",
            {"form": form, "warning": services.PROFESSIONAL_WARNING},
            status=400,
        )


# --- staff ----------------------------------------------------------------------------------


class CalendarView(StaffPageMixin, View):
    permission = "compliance.add_calendaryear"
    write_permission = "compliance.add_calendaryear"

    def _render(self, request, form, status=200):
        known = calendar.known_years()
        initial_year = known[1] + 1 if known else None
        return render(
            request,
            "compliance/staff/calendar.html",
            {
                "form": form,
                "years": CalendarYear.objects.order_by("-year")[:5],
                "known": known,
                "next_year": initial_year,
            },
            status=status,
        )

    def get(self, request):
        known = calendar.known_years()
        return self._render(
            request, CalendarYearForm(initial={"year": known[1] + 1 if known else None})
        )

    def post(self, request):
        form = CalendarYearForm(request.POST)
        if form.is_valid():
            try:
                year = services.calendar_year_add(
                    year=form.cleaned_data["year"],
                    holidays=services.parse_holiday_lines(form.cleaned_data["holidays"]),
                    source=form.cleaned_data["source"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, _("The %(year)s trading calendar is now known.") % {"year": year.year}
                )
                return redirect("staff:compliance-calendar")
        return self._render(request, form, status=400)


class DailyAssetsImportView(StaffPageMixin, View):
    permission = "compliance.add_dailyassetfigure"
    write_permission = "compliance.add_dailyassetfigure"

    def get(self, request):
        return render(
            request, "compliance/staff/daily_assets.html", {"form": DailyAssetsUploadForm()}
        )

    def post(self, request):
        form = DailyAssetsUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                text = form.cleaned_data["file"].read().decode("utf-8-sig")
                count = services.daily_assets_import_csv(text=text, actor=request.user)
            except UnicodeDecodeError:
                form.add_error("file", _("The file is not UTF-8 text."))
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("%(count)s figures imported.") % {"count": count})
                return redirect("staff:compliance-daily-assets")
        return render(request, "compliance/staff/daily_assets.html", {"form": form}, status=400)


class ProfessionalRequestQueueView(StaffPageMixin, View):
    permission = "compliance.view_professionaltreatmentrequest"

    def get(self, request):
        return render(
            request,
            "compliance/staff/professional_requests.html",
            {
                "requests": ProfessionalTreatmentRequest.objects.select_related(
                    "investor", "assessed_by"
                )[:200],
                "form": DecisionForm(),
            },
        )


class ProfessionalRequestDecideView(StaffPageMixin, View):
    permission = "compliance.change_professionaltreatmentrequest"
    write_permission = "compliance.change_professionaltreatmentrequest"

    def post(self, request, pk: int):
        item = get_object_or_404(ProfessionalTreatmentRequest, pk=pk)
        form = DecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("A reason is required."))
        else:
            try:
                services.professional_request_assess(
                    request=item,
                    approve=request.POST.get("decision") == "approve",
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            except DjangoPermissionDenied:
                raise
            else:
                messages.success(request, _("Decision recorded."))
        return redirect("staff:compliance-professional-requests")


# --- the investor file (staff) ---------------------------------------------------------------

#: action -> (form class, permission); the services check the same permissions
INVESTOR_FILE_ACTIONS = {
    "classify": (ClassificationForm, "compliance.add_classificationrecord"),
    "facts": (EligibilityFactsForm, "compliance.change_eligibilityfacts"),
    "check": (None, "compliance.add_eligibilitycheck"),
    "refusal": (RefusalForm, "compliance.add_redflag"),
    "resolve": (RedFlagResolveForm, "compliance.change_redflag"),
}


class InvestorListView(StaffPageMixin, View):
    """Investors (search), signed-up ones awaiting identity verification, and the upload of
    many investors' eligibility facts as CSV."""

    permission = "accounts.view_investorprofile"
    write_permission = "compliance.change_eligibilityfacts"

    def get(self, request, upload_form=None, status=200):
        query = (request.GET.get("q") or "").strip()
        return render(
            request,
            "compliance/staff/investors.html",
            {
                "investors": selectors.investors_search(query)[:200],
                "q": query,
                "pending": selectors.signups_awaiting_identity()[:200],
                "can_verify": request.user.has_perm("accounts.add_investorprofile"),
                "can_upload": request.user.has_perm("compliance.change_eligibilityfacts"),
                "upload_form": upload_form or EligibilityFactsUploadForm(),
            },
            status=status,
        )

    def post(self, request):
        form = EligibilityFactsUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                text = form.cleaned_data["file"].read().decode("utf-8-sig")
                count = services.eligibility_facts_import_csv(
                    text=text, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except UnicodeDecodeError:
                form.add_error("file", _("The file is not UTF-8 text."))
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Eligibility facts of %(count)s investors recorded.") % {"count": count},
                )
                return redirect("staff:compliance-investors")
        return self.get(request, upload_form=form, status=400)


class IdentityVerifyView(StaffPageMixin, View):
    """Operations record a signed-up investor's verified identity and bank account of record
    (accounts.services.investor_profile_create): the investor profile the rest needs."""

    permission = "accounts.add_investorprofile"
    write_permission = "accounts.add_investorprofile"

    def _user(self, user_id: int):
        user = selectors.signups_awaiting_identity().filter(pk=user_id).first()
        if user is None:
            raise Http404("no signed-up investor awaiting identity verification")
        return user

    def _render(self, request, user, form, status=200):
        return render(
            request,
            "compliance/staff/identity_verify.html",
            {"signup": user, "form": form},
            status=status,
        )

    def get(self, request, user_id: int):
        user = self._user(user_id)
        return self._render(
            request, user, IdentityVerifiedForm(initial={"real_name": user.full_name})
        )

    def post(self, request, user_id: int):
        user = self._user(user_id)
        form = IdentityVerifiedForm(request.POST)
        if form.is_valid():
            try:
                profile = account_services.investor_profile_create(
                    user=user, actor=request.user, **form.cleaned_data
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Identity verified: the investor's file is open."))
                return redirect("staff:compliance-investor-file", pk=profile.pk)
        return self._render(request, user, form, status=400)


class InvestorFileView(StaffPageMixin, View):
    """One investor's compliance file: classification (CSRC professional tests), the facts
    the eligibility check reads, the checks run, refused requests and red flags."""

    permission = "accounts.view_investorprofile"
    write_permission = {a: perm for a, (_f, perm) in INVESTOR_FILE_ACTIONS.items()} | {
        None: "compliance.change_eligibilityfacts"
    }

    def _render(self, request, investor, bound=None, status=200):
        facts = EligibilityFacts.objects.filter(investor=investor).first()
        forms = {
            "classify": ClassificationForm(prefix="classify"),
            "facts": EligibilityFactsForm(
                prefix="facts",
                initial={
                    "first_trade_date": facts.first_trade_date,
                    "has_serious_default": facts.has_serious_default,
                    "is_related_party": facts.is_related_party,
                    "firm_shareholding_pct": facts.firm_shareholding_pct,
                    "evidence": facts.evidence,
                }
                if facts
                else None,
            ),
            "refusal": RefusalForm(prefix="refusal"),
        }
        if bound is not None:
            forms[bound[0]] = bound[1]
        return render(
            request,
            "compliance/staff/investor_file.html",
            {
                "investor": investor,
                "facts": facts,
                "classifications": investor.classifications.order_by("-pk")[:5],
                "checks": EligibilityCheck.objects.filter(investor=investor)
                .prefetch_related("items")
                .order_by("-pk")[:3],
                "flags": RedFlag.objects.filter(investor=investor).order_by("-pk")[:50],
                "forms": forms,
                "can": {
                    a: request.user.has_perm(perm)
                    for a, (_f, perm) in INVESTOR_FILE_ACTIONS.items()
                },
            },
            status=status,
        )

    def get(self, request, pk: int):
        return self._render(request, _investor_or_404(pk))

    def post(self, request, pk: int):
        investor = _investor_or_404(pk)
        action = request.POST.get("action")
        if action not in INVESTOR_FILE_ACTIONS:
            return self._render(request, investor, status=400)
        form_class, _perm = INVESTOR_FILE_ACTIONS[action]
        form = form_class(request.POST, prefix=action) if form_class else None
        if form is None or form.is_valid():
            data = form.cleaned_data if form else {}
            try:
                done = self._act(request, investor, action, data)
            except ApplicationError as exc:
                if form is None:
                    messages.error(request, exc.message)
                    return self._render(request, investor, status=400)
                form.add_error(None, exc.message)
            else:
                messages.success(request, done)
                return redirect("staff:compliance-investor-file", pk=investor.pk)
        return self._render(request, investor, (action, form), status=400)

    @staticmethod
    def _act(request, investor, action, data) -> str:
        actor = request.user
        if action == "classify":
            record = services.investor_classify(investor=investor, actor=actor, **data)
            return _("Classified: %(result)s.") % {"result": InvestorCategory(record.result).label}
        if action == "facts":
            services.eligibility_facts_set(investor=investor, actor=actor, **data)
            return _("Eligibility facts recorded.")
        if action == "check":
            check = services.eligibility_check_run(investor=investor, actor=actor)
            return (
                _("Eligibility check: passed.")
                if check.passed
                else _("Eligibility check: not passed.")
            )
        if action == "refusal":
            refuse = (
                services.sub_account_refuse
                if data["kind"] == "sub_account"
                else services.third_party_authority_refuse
            )
            try:
                refuse(investor=investor, details={"request": data["details"]}, actor=actor)
            except ApplicationError as exc:
                if not exc.extra.get("red_flag"):
                    raise  # not the recorded refusal (e.g. a permission): shown as an error
            return _("The request was refused and recorded as a red flag.")
        flag = get_object_or_404(RedFlag, pk=data["flag"], investor=investor)
        services.red_flag_resolve(
            flag=flag, status=data["status"], resolution=data["resolution"], actor=actor
        )
        return _("Red flag resolved.")


def _investor_or_404(pk: int):
    investor = selectors.investor_profile(pk)
    if investor is None:
        raise Http404("no such investor")
    return investor
