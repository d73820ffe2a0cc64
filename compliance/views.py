"""Portal pages (the investor's suitability test, disclosures, professional request) and staff
pages (trading calendar, daily-asset import, professional-request assessment, the investor file:
classification, eligibility facts and checks, refused requests, red flags). Rules live in
services and selectors; these views parse, call, and render."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views import View

from accounts import services as account_services
from accounts.errors import ApplicationError
from accounts.models import InvestorCategory
from accounts.permissions import InvestorPageMixin, StaffPageMixin

from . import calendar, selectors, services
from .forms import (
    CalendarDecisionForm,
    CalendarYearProposalForm,
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
    RestrictedHoldingEndForm,
    RestrictedHoldingForm,
)
from .models import (
    CalendarYear,
    CalendarYearProposal,
    EligibilityCheck,
    EligibilityFacts,
    ExchangeHoliday,
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
    """The known years, and a year's holidays with four eyes: compliance proposes them with
    the exchange's notice attached; a second person approves (the year becomes known) or
    rejects with a reason (compliance.services.calendar_year_propose / _decide)."""

    permission = "compliance.view_calendaryear"
    write_permission = {
        None: "compliance.add_calendaryearproposal",
        "propose": "compliance.add_calendaryearproposal",
        "approve": "compliance.approve_calendaryearproposal",
        "reject": "compliance.approve_calendaryearproposal",
    }

    def _years(self, request) -> list[dict]:
        """The five latest known years, each with its holidays (date and name, in date order),
        its source and, for a year entered from a proposal, the exchange's notice."""
        years = list(
            CalendarYear.objects.select_related("proposal")
            .defer("proposal__document_content")
            .order_by("-year")[:5]
        )
        holidays: dict[int, list] = {y.year: [] for y in years}
        for holiday in ExchangeHoliday.objects.filter(date__year__in=list(holidays)).order_by(
            "date"
        ):
            holidays[holiday.date.year].append(holiday)
        this_year = selectors.today().year
        documents = request.user.has_perm(CalendarDocumentView.permission)
        return [
            {
                "year": y,
                "holidays": holidays[y.year],
                "named": any(h.name for h in holidays[y.year]),
                "proposal": getattr(y, "proposal", None),
                "open": y.year >= this_year,
                "document_link": documents,
            }
            for y in years
        ]

    def _render(self, request, form, status=200):
        known = calendar.known_years()
        return render(
            request,
            "compliance/staff/calendar.html",
            {
                "form": form,
                "years": self._years(request),
                "known": known,
                "next_year": known[1] + 1 if known else None,
                "pending": selectors.calendar_proposals("proposed").order_by("year"),
                "decided": selectors.calendar_proposals().exclude(status="proposed")[:10],
                "can_propose": request.user.has_perm("compliance.add_calendaryearproposal"),
                "can_decide": request.user.has_perm("compliance.approve_calendaryearproposal"),
            },
            status=status,
        )

    def get(self, request):
        known = calendar.known_years()
        return self._render(
            request, CalendarYearProposalForm(initial={"year": known[1] + 1 if known else None})
        )

    def post(self, request):
        action = request.POST.get("action") or "propose"
        if action in ("approve", "reject"):
            return self._decide(request, approve=action == "approve")
        form = CalendarYearProposalForm(request.POST, request.FILES)
        if form.is_valid():
            document = form.cleaned_data["document"]
            try:
                proposal = services.calendar_year_propose(
                    year=form.cleaned_data["year"],
                    holiday_lines=form.cleaned_data["holidays"],
                    source=form.cleaned_data["source"],
                    document_name=document.name,
                    document_content=document.read(),
                    actor=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("The %(year)s holidays are proposed; a second person approves them.")
                    % {"year": proposal.year},
                )
                return redirect("staff:compliance-calendar")
        return self._render(request, form, status=400)

    def _decide(self, request, *, approve: bool):
        form = CalendarDecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose a proposal."))
            return self._render(request, CalendarYearProposalForm(), status=400)
        proposal = get_object_or_404(CalendarYearProposal, pk=form.cleaned_data["proposal"])
        try:
            services.calendar_year_decide(
                proposal=proposal,
                approve=approve,
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return self._render(request, CalendarYearProposalForm(), status=400)
        if approve:
            messages.success(
                request, _("The %(year)s trading calendar is now known.") % {"year": proposal.year}
            )
        else:
            messages.success(request, _("The proposal is rejected."))
        return redirect("staff:compliance-calendar")


class CalendarDocumentView(StaffPageMixin, View):
    """The exchange's notice a proposal was made from, as uploaded (the checker reads it)."""

    permission = "compliance.view_calendaryearproposal"

    def get(self, request, pk: int):
        proposal = get_object_or_404(CalendarYearProposal, pk=pk)
        response = HttpResponse(
            bytes(proposal.document_content), content_type="application/octet-stream"
        )
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=proposal.document_name
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response


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
    "holding_add": (RestrictedHoldingForm, "compliance.add_restrictedholding"),
    "holding_end": (RestrictedHoldingEndForm, "compliance.change_restrictedholding"),
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
            "holding_add": RestrictedHoldingForm(prefix="holding_add"),
            "holding_end": RestrictedHoldingEndForm(prefix="holding_end"),
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
                "holdings": selectors.restricted_holdings_of(investor),
                "declaration": selectors.restricted_declaration_latest(investor),
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
        if action == "holding_add":
            services.restricted_holding_add(investor=investor, actor=actor, **data)
            return _("Restricted holding recorded.")
        if action == "holding_end":
            holding = get_object_or_404(
                selectors.restricted_holdings_of(investor), pk=data["holding"]
            )
            services.restricted_holding_end(
                holding=holding, ended_on=data["ended_on"], reason=data["reason"], actor=actor
            )
            return _("Restricted holding ended.")
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


# --- restricted holders (董监高, 5% holders) -------------------------------------------------


class RestrictedHoldingsView(InvestorPageMixin, View):
    """The investor's positions in listed companies that restrict what the credit account may
    hold: declare at onboarding (or that they hold none), add a new one, end one that ended."""

    def _render(self, request, add_form=None, status=200):
        investor = self.investor
        return render(
            request,
            "compliance/portal/restricted_holdings.html",
            {
                "holdings": selectors.restricted_holdings_of(investor),
                "has_open": selectors.restricted_holdings_of(investor)
                .filter(ended_on__isnull=True)
                .exists(),
                "declaration": selectors.restricted_declaration_latest(investor),
                "add_form": add_form or RestrictedHoldingForm(prefix="add"),
                "end_form": RestrictedHoldingEndForm(prefix="end"),
                "statement": _(services.RESTRICTED_STATEMENT),
                "none_statement": _(services.RESTRICTED_NONE_STATEMENT),
            },
            status=status,
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        investor, action = self.investor, request.POST.get("action")
        try:
            if action == "add":
                form = RestrictedHoldingForm(request.POST, prefix="add")
                if not form.is_valid():
                    return self._render(request, form, status=400)
                services.restricted_holding_add(
                    investor=investor, actor=request.user, **form.cleaned_data
                )
                messages.success(request, _("Position recorded."))
            elif action == "end":
                form = RestrictedHoldingEndForm(request.POST, prefix="end")
                if not form.is_valid():
                    messages.error(request, _("Give the day the position ended."))
                    return self._render(request, status=400)
                holding = get_object_or_404(
                    selectors.restricted_holdings_of(investor), pk=form.cleaned_data["holding"]
                )
                services.restricted_holding_end(
                    holding=holding,
                    ended_on=form.cleaned_data["ended_on"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
                messages.success(request, _("Position ended."))
            elif action in ("declare_none", "declare_list"):
                services.restricted_declaration_record(
                    investor=investor,
                    holds_none=action == "declare_none",
                    actor=request.user,
                    ip_address=client_ip(request),
                    user_agent=user_agent(request),
                )
                messages.success(request, _("Your declaration is recorded."))
            else:
                return self._render(request, status=400)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return self._render(request, status=400)
        return redirect("portal:compliance-restricted-holdings")
