"""Compliance API for investors (their own records only) and staff (daily-asset import).
Another investor's object answers 404, never 403: its existence is not disclosed."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions
from rest_framework.fields import (
    BooleanField,
    CharField,
    ChoiceField,
    DateField,
    DictField,
    FileField,
    IntegerField,
    ListField,
)
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from accounts import services as account_services
from accounts.api_permissions import SecondFactorForStaffWrites, writes_need
from accounts.errors import NotFound, PermissionDenied, ValidationFailed
from accounts.models import InvestorProfile
from accounts.permissions import require_permission

from . import selectors, services
from .models import RedFlag, RestrictedRole
from .serializers import (
    AcknowledgementCreateSerializer,
    AcknowledgementSerializer,
    AssessmentCreateSerializer,
    AssessmentSerializer,
    ClassificationInSerializer,
    DailyAssetsImportSerializer,
    DisclosureSerializer,
    IdentityVerifiedSerializer,
    MatchSerializer,
    QuestionnaireSerializer,
    RedFlagResolveInSerializer,
    RefusalInSerializer,
    StatusSerializer,
    SuitabilityActionSerializer,
)
from .views import client_ip, user_agent


def investor_of(request) -> InvestorProfile:
    profile = getattr(request.user, "investor_profile", None)
    if profile is None:
        raise PermissionDenied(_("user: only investors use this endpoint"), code="investor_only")
    return profile


class QuestionnaireApi(APIView):
    @extend_schema(responses=QuestionnaireSerializer)
    def get(self, request):
        questionnaire = selectors.active_questionnaire()
        if questionnaire is None:
            raise NotFound(_("questionnaire: none in use"))
        return Response(QuestionnaireSerializer(questionnaire).data)


class AssessmentListApi(ListAPIView):
    serializer_class = AssessmentSerializer

    def get_queryset(self):
        return selectors.assessments_for(self.request.user)

    @extend_schema(request=AssessmentCreateSerializer, responses={201: AssessmentSerializer})
    def post(self, request):
        investor = investor_of(request)
        body = AssessmentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        answers = {a["question"]: a["option"] for a in body.validated_data["answers"]}
        assessment = services.assessment_submit(
            investor=investor, answers=answers, actor=request.user
        )
        return Response(AssessmentSerializer(assessment).data, status=201)


class AssessmentDetailApi(APIView):
    @extend_schema(responses=AssessmentSerializer)
    def get(self, request, pk: int):
        return Response(AssessmentSerializer(selectors.assessment_for(request.user, pk)).data)


class StatusApi(APIView):
    """What still stands between the investor and credit, and between them and a drawdown."""

    @extend_schema(responses=StatusSerializer)
    def get(self, request):
        investor = investor_of(request)
        drawdown = selectors.drawdown_blockers(investor)
        data = {
            "credit_blockers": [vars(r) for r in selectors.credit_blockers(investor)],
            "drawdown_blockers": [vars(r) for r in drawdown],
            "may_draw_down": not drawdown,
        }
        return Response(StatusSerializer(data).data)


class SuitabilityApi(APIView):
    """GET the current match for margin financing; POST check (record the match) or confirm
    (confirm the written warning)."""

    @extend_schema(responses=MatchSerializer)
    def get(self, request):
        investor = investor_of(request)
        match = selectors.current_match(investor, selectors.margin_product())
        if match is None:
            raise NotFound(_("match: none recorded for the current assessment"))
        return Response(MatchSerializer(match).data)

    @extend_schema(request=SuitabilityActionSerializer, responses=MatchSerializer)
    def post(self, request):
        investor = investor_of(request)
        body = SuitabilityActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        product = selectors.margin_product()
        if body.validated_data["action"] == "check":
            match = services.suitability_match_record(
                investor=investor, product=product, actor=request.user
            )
        else:
            match = selectors.current_match(investor, product)
            if match is None:
                raise NotFound(_("match: check suitability first"))
            match = services.suitability_warning_confirm(
                match=match,
                investor=investor,
                ip_address=client_ip(request),
                user_agent=user_agent(request),
                actor=request.user,
            )
        return Response(MatchSerializer(match).data)


class CurrentDisclosureApi(APIView):
    @extend_schema(responses=DisclosureSerializer)
    def get(self, request):
        document = selectors.current_disclosure()
        if document is None:
            raise NotFound(_("disclosure: none published"))
        return Response(DisclosureSerializer(document).data)


class AcknowledgementListApi(ListAPIView):
    serializer_class = AcknowledgementSerializer

    def get_queryset(self):
        return selectors.acknowledgements_for(self.request.user)

    @extend_schema(
        request=AcknowledgementCreateSerializer, responses={201: AcknowledgementSerializer}
    )
    def post(self, request):
        investor = investor_of(request)
        body = AcknowledgementCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        document = selectors.current_disclosure()
        if document is None or document.pk != body.validated_data["document"]:
            from accounts.errors import RuleViolation

            raise RuleViolation(
                _("document: only the current risk disclosure can be acknowledged"),
                extra={"field": "document"},
            )
        ack = services.disclosure_acknowledge(
            investor=investor,
            document=document,
            ip_address=client_ip(request),
            user_agent=user_agent(request),
            actor=request.user,
        )
        return Response(AcknowledgementSerializer(ack).data, status=201)


class CanImportDailyAssets(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("compliance.add_dailyassetfigure")


class DailyAssetsApi(APIView):
    """Staff import of daily asset figures from the ordinary brokerage account."""

    permission_classes = [
        permissions.IsAuthenticated,
        CanImportDailyAssets,
        SecondFactorForStaffWrites,
    ]

    @extend_schema(
        request=DailyAssetsImportSerializer,
        responses={200: inline_serializer("DailyAssetsImported", {"imported": IntegerField()})},
    )
    def post(self, request):
        body = DailyAssetsImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        investor = InvestorProfile.objects.filter(pk=body.validated_data["investor"]).first()
        if investor is None:
            raise NotFound(_("investor: not found"), extra={"field": "investor"})
        count = services.daily_assets_import(
            investor=investor,
            rows=[(f["date"], f["total_assets"]) for f in body.validated_data["figures"]],
            source="api",
            actor=request.user,
        )
        return Response({"imported": count})


class EligibilityFactsApi(APIView):
    """Staff import of many investors' eligibility facts (brokerage and credit-bureau files):
    {"rows": [{email, first_trade_date, has_serious_default, is_related_party,
    firm_shareholding_pct, evidence}], "reason"}; all rows or none."""

    permission_classes = [
        permissions.IsAuthenticated,
        writes_need("compliance.change_eligibilityfacts"),
        SecondFactorForStaffWrites,
    ]

    @extend_schema(
        request=inline_serializer(
            "EligibilityFactsImport",
            {"rows": ListField(child=DictField()), "reason": CharField()},
        ),
        responses={
            200: inline_serializer("EligibilityFactsImported", {"imported": IntegerField()})
        },
    )
    def post(self, request):
        rows = request.data.get("rows") if hasattr(request.data, "get") else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValidationFailed(_("rows: a list of investors' facts"), extra={"field": "rows"})
        count = services.eligibility_facts_import(
            rows=rows, actor=request.user, reason=str(request.data.get("reason") or "")
        )
        return Response({"imported": count})


# --- the investor file (staff): the same doors as compliance/views.py's pages -----------------


def _staff_writes(permission: str) -> list:
    return [permissions.IsAuthenticated, writes_need(permission), SecondFactorForStaffWrites]


def _investor(pk: int) -> InvestorProfile:
    investor = selectors.investor_profile(pk)
    if investor is None:
        raise NotFound(_("investor: no investor #%(pk)s") % {"pk": pk})
    return investor


class IdentityVerifiedApi(APIView):
    """Operations record a signed-up investor's verified identity and bank account of record:
    {email, real_name, investor_type, id_type, id_number, bank_name, bank_account, reason}."""

    permission_classes = _staff_writes("accounts.add_investorprofile")

    @extend_schema(
        request=IdentityVerifiedSerializer,
        responses={201: inline_serializer("InvestorOpened", {"investor": IntegerField()})},
    )
    def post(self, request):
        body = IdentityVerifiedSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        user = selectors.signups_awaiting_identity().filter(email__iexact=data.pop("email")).first()
        if user is None:
            raise NotFound(
                _("email: no signed-up investor awaiting identity verification"),
                extra={"field": "email"},
            )
        profile = account_services.investor_profile_create(user=user, actor=request.user, **data)
        return Response({"investor": profile.pk}, status=201)


class ClassificationApi(APIView):
    permission_classes = _staff_writes("compliance.add_classificationrecord")

    @extend_schema(
        request=ClassificationInSerializer,
        responses={200: inline_serializer("Classified", {"result": CharField()})},
    )
    def post(self, request, pk: int):
        body = ClassificationInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = services.investor_classify(
            investor=_investor(pk), actor=request.user, **body.validated_data
        )
        return Response({"result": record.result})


class EligibilityCheckApi(APIView):
    permission_classes = _staff_writes("compliance.add_eligibilitycheck")

    @extend_schema(
        request=None,
        responses={200: inline_serializer("EligibilityChecked", {"passed": BooleanField()})},
    )
    def post(self, request, pk: int):
        check = services.eligibility_check_run(investor=_investor(pk), actor=request.user)
        return Response({"passed": check.passed})


class RefusalApi(APIView):
    """A refused request recorded as a red flag: {kind: sub_account | third_party_authority,
    details}; answers 422 with the refusal (that is the outcome)."""

    permission_classes = _staff_writes("compliance.add_redflag")

    @extend_schema(request=RefusalInSerializer, responses={422: None})
    def post(self, request, pk: int):
        body = RefusalInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        refuse = (
            services.sub_account_refuse
            if body.validated_data["kind"] == "sub_account"
            else services.third_party_authority_refuse
        )
        # always raises: the refusal (recorded as a red flag) is the answer, a 422
        refuse(
            investor=_investor(pk),
            details={"request": body.validated_data["details"]},
            actor=request.user,
        )


class RedFlagResolveApi(APIView):
    permission_classes = _staff_writes("compliance.change_redflag")

    @extend_schema(
        request=RedFlagResolveInSerializer,
        responses={200: inline_serializer("RedFlagResolved", {"status": CharField()})},
    )
    def post(self, request, pk: int):
        body = RedFlagResolveInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        flag = RedFlag.objects.filter(pk=pk).first()
        if flag is None:
            raise NotFound(_("flag: no red flag #%(pk)s") % {"pk": pk})
        flag = services.red_flag_resolve(flag=flag, actor=request.user, **body.validated_data)
        return Response({"status": flag.status})


# --- restricted holders (董监高, 5% holders) -------------------------------------------------


class RestrictedHoldingInSerializer(Serializer):
    security = CharField(max_length=24, help_text="EXCHANGE:CODE, e.g. SSE:600000")
    company_name = CharField(max_length=200)
    role = ChoiceField(choices=RestrictedRole.choices)
    since = DateField()
    reason = CharField(max_length=500, required=False, allow_blank=True, default="")


class RestrictedHoldingEndSerializer(Serializer):
    holding = IntegerField()
    ended_on = DateField()
    reason = CharField(max_length=500, required=False, allow_blank=True, default="")


class RestrictedHoldingSerializer(Serializer):
    id = IntegerField()
    security = CharField()
    company_name = CharField()
    role = CharField()
    since = DateField()
    ended_on = DateField(allow_null=True)
    source = CharField()


class RestrictedDeclarationInSerializer(Serializer):
    holds_none = BooleanField(help_text="true: I hold no such position; false: the list is all")


def _holdings(investor) -> list[dict]:
    return RestrictedHoldingSerializer(selectors.restricted_holdings_of(investor), many=True).data


def _holding_end(request, investor):
    body = RestrictedHoldingEndSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    holding = selectors.restricted_holdings_of(investor).filter(pk=data["holding"]).first()
    if holding is None:
        raise NotFound(_("holding: no restricted holding #%(pk)s") % {"pk": data["holding"]})
    holding = services.restricted_holding_end(
        holding=holding, ended_on=data["ended_on"], reason=data["reason"], actor=request.user
    )
    return Response(RestrictedHoldingSerializer(holding).data)


class RestrictedHoldingsApi(APIView):
    """The investor's own positions in listed companies (director, supervisor, senior
    manager, 5% holder): GET the list, POST a new one."""

    @extend_schema(responses=RestrictedHoldingSerializer(many=True))
    def get(self, request):
        return Response(_holdings(investor_of(request)))

    @extend_schema(
        request=RestrictedHoldingInSerializer, responses={201: RestrictedHoldingSerializer}
    )
    def post(self, request):
        investor = investor_of(request)
        body = RestrictedHoldingInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        holding = services.restricted_holding_add(
            investor=investor, actor=request.user, **body.validated_data
        )
        return Response(RestrictedHoldingSerializer(holding).data, status=201)


class RestrictedHoldingEndApi(APIView):
    """The investor ends a position they declared: {holding, ended_on, reason}."""

    @extend_schema(request=RestrictedHoldingEndSerializer, responses=RestrictedHoldingSerializer)
    def post(self, request):
        return _holding_end(request, investor_of(request))


class RestrictedDeclarationApi(APIView):
    """The investor declares the list complete, or that they hold no such position."""

    @extend_schema(
        request=RestrictedDeclarationInSerializer,
        responses={201: inline_serializer("Declared", {"declared_at": CharField()})},
    )
    def post(self, request):
        investor = investor_of(request)
        body = RestrictedDeclarationInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        declaration = services.restricted_declaration_record(
            investor=investor,
            holds_none=body.validated_data["holds_none"],
            actor=request.user,
            ip_address=client_ip(request),
            user_agent=user_agent(request),
        )
        return Response({"declared_at": declaration.declared_at.isoformat()}, status=201)


class StaffRestrictedHoldingsApi(APIView):
    """Compliance: one investor's restricted holdings; POST records one from a filing."""

    permission_classes = _staff_writes("compliance.add_restrictedholding")

    @extend_schema(responses=RestrictedHoldingSerializer(many=True))
    def get(self, request, pk: int):
        require_permission(request.user, "compliance.view_restrictedholding")
        return Response(_holdings(_investor(pk)))

    @extend_schema(
        request=RestrictedHoldingInSerializer, responses={201: RestrictedHoldingSerializer}
    )
    def post(self, request, pk: int):
        body = RestrictedHoldingInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        holding = services.restricted_holding_add(
            investor=_investor(pk), actor=request.user, **body.validated_data
        )
        return Response(RestrictedHoldingSerializer(holding).data, status=201)


class StaffRestrictedHoldingEndApi(APIView):
    permission_classes = _staff_writes("compliance.change_restrictedholding")

    @extend_schema(request=RestrictedHoldingEndSerializer, responses=RestrictedHoldingSerializer)
    def post(self, request, pk: int):
        return _holding_end(request, _investor(pk))


# --- calendar years with four eyes -----------------------------------------------------------


class CalendarProposalSerializer(Serializer):
    id = IntegerField()
    year = IntegerField()
    holiday_lines = CharField()
    source = CharField()
    document_name = CharField()
    document_sha256 = CharField()
    status = CharField()
    reason = CharField()


class CalendarProposalInSerializer(Serializer):
    year = IntegerField(min_value=2000, max_value=2200)
    source = CharField(max_length=200)
    holidays = CharField(help_text="One per line: YYYY-MM-DD and an optional name")
    document = FileField(help_text="The exchange's notice the holidays come from")


class CalendarDecisionSerializer(Serializer):
    approve = BooleanField()
    reason = CharField(max_length=500, required=False, allow_blank=True, default="")


class CalendarProposalsApi(APIView):
    """Compliance proposes a year's holidays with the exchange's notice (multipart); GET the
    proposals, newest first."""

    permission_classes = _staff_writes("compliance.add_calendaryearproposal")
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=CalendarProposalSerializer(many=True))
    def get(self, request):
        require_permission(request.user, "compliance.view_calendaryearproposal")
        rows = selectors.calendar_proposals()[:50]
        return Response(CalendarProposalSerializer(rows, many=True).data)

    @extend_schema(
        request=CalendarProposalInSerializer, responses={201: CalendarProposalSerializer}
    )
    def post(self, request):
        body = CalendarProposalInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        proposal = services.calendar_year_propose(
            year=data["year"],
            holiday_lines=data["holidays"],
            source=data["source"],
            document_name=data["document"].name,
            document_content=data["document"].read(),
            actor=request.user,
        )
        return Response(CalendarProposalSerializer(proposal).data, status=201)


class CalendarProposalDecisionApi(APIView):
    """A second person approves (the year becomes known) or rejects with a reason."""

    permission_classes = _staff_writes("compliance.approve_calendaryearproposal")

    @extend_schema(request=CalendarDecisionSerializer, responses=CalendarProposalSerializer)
    def post(self, request, pk: int):
        body = CalendarDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        proposal = selectors.calendar_proposals().filter(pk=pk).first()
        if proposal is None:
            raise NotFound(_("proposal: no calendar proposal #%(pk)s") % {"pk": pk})
        proposal = services.calendar_year_decide(
            proposal=proposal, actor=request.user, **body.validated_data
        )
        return Response(CalendarProposalSerializer(proposal).data)
