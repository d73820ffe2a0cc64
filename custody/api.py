"""Custody API: the trial balance for staff with custody view permissions, the client-money
requirements with their inputs per client (a page at a time), and the treasury's doors
(statements and reconciliation, breaks, reserve fund, house capital, facilities)."""

from datetime import UTC, datetime

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_fields import NON_NEGATIVE, money_field, ratio_field
from accounts.api_idempotency import IDEMPOTENCY, idempotency_key
from accounts.api_pagination import Pagination
from accounts.api_permissions import SecondFactorForStaffWrites, writes_need
from accounts.errors import NotFound, ValidationFailed
from accounts.precision import LEDGER

from . import selectors, services
from .models import (
    ClientMoneyRequirement,
    ClientMoneyRequirementLine,
    CreditFacility,
    ReconciliationBreak,
    StatementSource,
)
from .services.reconciliation import break_is_late


class CustodyViewer(permissions.BasePermission):
    """Desk staff who may view ledger accounts (operations, risk, treasury, auditor...)."""

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_staff
            and user.has_perm("custody.view_ledgeraccount")
            and user.has_perm("custody.view_journalentry")
        )


class TrialBalanceRowSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    purpose_key = serializers.CharField()
    name = serializers.CharField()
    account_type = serializers.CharField()
    unit = serializers.CharField()
    debit = serializers.DecimalField(**LEDGER.fields)
    credit = serializers.DecimalField(**LEDGER.fields)


class TrialBalanceTotalSerializer(serializers.Serializer):
    unit = serializers.CharField()
    debit = serializers.DecimalField(**LEDGER.fields)
    credit = serializers.DecimalField(**LEDGER.fields)


class TrialBalanceSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(allow_null=True)
    balanced = serializers.BooleanField()
    rows = TrialBalanceRowSerializer(many=True)
    totals = TrialBalanceTotalSerializer(many=True)


class TrialBalanceView(APIView):
    """Every ledger account's debit or credit balance, with totals per unit."""

    permission_classes = [CustodyViewer, SecondFactorForStaffWrites]

    @extend_schema(
        responses=TrialBalanceSerializer,
        parameters=[
            OpenApiParameter("as_of", str, description="ISO 8601 time; default: now"),
        ],
        operation_id="ledger_trial_balance",
    )
    def get(self, request):
        as_of = None
        raw = request.query_params.get("as_of")
        if raw:
            try:
                as_of = datetime.fromisoformat(raw)
            except ValueError:
                raise ValidationFailed(
                    "as_of: an ISO 8601 time is expected", extra={"field": "as_of"}
                ) from None
            if timezone.is_naive(as_of):
                as_of = timezone.make_aware(as_of)
            try:  # 0001-01-01T00:00+14:00 is before year 1 in UTC: no database holds it
                as_of.astimezone(UTC)
            except OverflowError:
                raise ValidationFailed(
                    "as_of: the time is out of range", extra={"field": "as_of", "rule": "overflow"}
                ) from None
        tb = selectors.trial_balance(as_of=as_of)
        data = {
            "as_of": tb.as_of,
            "balanced": tb.balanced,
            "rows": [row.__dict__ for row in tb.rows],
            "totals": [{"unit": unit, **t} for unit, t in sorted(tb.totals.items())],
        }
        return Response(TrialBalanceSerializer(data).data)


# --- client-money requirements (15c3-3 model) and their inputs per client --------------------


class RequirementViewer(permissions.BasePermission):
    """Desk staff who may view client-money requirements (every staff role)."""

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_staff
            and user.has_perm("custody.view_clientmoneyrequirement")
        )


class ClientMoneyRequirementOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    business_date = serializers.DateField()
    currency = serializers.CharField()
    as_of = serializers.DateTimeField(help_text="The balances' time")
    credits = serializers.DecimalField(**LEDGER.fields, help_text="Owed to clients")
    debits = serializers.DecimalField(
        **LEDGER.fields, help_text="Owed by clients, each up to the client's own credit"
    )
    requirement = serializers.DecimalField(**LEDGER.fields)
    segregated_funds = serializers.DecimalField(**LEDGER.fields)
    excess = serializers.DecimalField(**LEDGER.fields, help_text="Segregated minus requirement")
    clients = serializers.IntegerField(help_text="Lines: one per client")
    computed_at = serializers.DateTimeField()


def _requirement(r) -> dict:
    return {
        "id": r.pk,
        "business_date": r.business_date,
        "currency": r.currency,
        "as_of": r.as_of,
        "credits": r.credits,
        "debits": r.debits,
        "requirement": r.requirement,
        "segregated_funds": r.segregated_funds,
        "excess": r.segregated_funds - r.requirement,
        "clients": r.clients,
        "computed_at": r.computed_at,
    }


class RequirementFilterSerializer(serializers.Serializer):
    currency = serializers.CharField(max_length=3, required=False)


class ClientMoneyRequirementsApi(ListAPIView):
    """Client-money requirements, the latest first (summaries; lines per requirement)."""

    permission_classes = [RequirementViewer, SecondFactorForStaffWrites]
    serializer_class = ClientMoneyRequirementOutSerializer

    @extend_schema(parameters=[RequirementFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = _body(RequirementFilterSerializer, self.request.query_params)
        return selectors.client_money_requirements(currency=filters.get("currency"))

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        data = ClientMoneyRequirementOutSerializer([_requirement(r) for r in page], many=True)
        return self.get_paginated_response(data.data)


class ClientMoneyRequirementApi(APIView):
    """One client-money requirement's summary."""

    permission_classes = [RequirementViewer, SecondFactorForStaffWrites]

    @extend_schema(responses={200: ClientMoneyRequirementOutSerializer})
    def get(self, request, pk: int):
        requirement = _get_or_404(ClientMoneyRequirement, pk, "requirement")
        return Response(ClientMoneyRequirementOutSerializer(_requirement(requirement)).data)


class RequirementLineOutSerializer(serializers.Serializer):
    investor = serializers.IntegerField(source="investor_id")
    investor_name = serializers.CharField(source="investor.real_name")
    credit = serializers.DecimalField(**LEDGER.fields, help_text="Client money owed to the client")
    debit = serializers.DecimalField(
        **LEDGER.fields, help_text="Financing and interest the client owes"
    )
    debit_counted = serializers.DecimalField(
        **LEDGER.fields, help_text="The debit up to the client's credit (0 if not positive)"
    )


class RequirementLinesFilterSerializer(serializers.Serializer):
    investor = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="One client's line"
    )


class KnownCountPagination(Pagination):
    """limit/offset over a requirement's lines, counted by the requirement (`clients`) rather
    than by count(*) over a million rows: the view sets `known_count`."""

    def paginate_queryset(self, queryset, request, view=None):
        self.known_count = getattr(view, "known_count", None)
        return super().paginate_queryset(queryset, request, view)

    def get_count(self, queryset):
        if self.known_count is not None:
            return self.known_count
        return super().get_count(queryset)


class ClientMoneyRequirementLinesApi(ListAPIView):
    """A requirement's inputs per client in investor order, a page at a time (limit at most
    500); `?investor=` gives one client's line."""

    permission_classes = [RequirementViewer, SecondFactorForStaffWrites]
    serializer_class = RequirementLineOutSerializer
    pagination_class = KnownCountPagination
    known_count: int | None = None

    @extend_schema(parameters=[RequirementLinesFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator's look
            return ClientMoneyRequirementLine.objects.none()
        requirement = _get_or_404(ClientMoneyRequirement, self.kwargs["pk"], "requirement")
        filters = _body(RequirementLinesFilterSerializer, self.request.query_params)
        investor_id = filters.get("investor")
        self.known_count = requirement.clients if investor_id is None else None
        return selectors.client_money_requirement_lines(
            requirement=requirement, investor_id=investor_id
        )


# --- treasury: statements, reconciliation, breaks, reserve fund, house capital, facilities ----
# Every write checks its permission in the service (custody.services); staff writes need the
# second factor (SecondFactorForStaffWrites); money movements need an Idempotency-Key.


class StaffWriter(permissions.BasePermission):
    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


def _writes(permission: str) -> list:
    return [StaffWriter, writes_need(permission), SecondFactorForStaffWrites]


MOVES_HOUSE_MONEY = _writes(services.MOVE_PERM)


def _body(serializer_class, data) -> dict:
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


class ReconciliationOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    business_date = serializers.DateField()
    status = serializers.CharField()
    open_breaks = serializers.IntegerField()


def _reconciliation(recon) -> dict:
    return {
        "id": recon.pk,
        "kind": recon.kind,
        "business_date": recon.business_date,
        "status": recon.status,
        "open_breaks": recon.breaks.filter(status="open").count(),
    }


class StatementInSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=StatementSource.choices)
    institution = serializers.CharField(max_length=100)
    file = serializers.FileField(help_text="UTF-8 CSV; columns in docs/custody.md")


class StatementImportApi(APIView):
    """Import a bank or custodian statement and reconcile it with the ledger."""

    permission_classes = _writes("custody.add_statementimport")
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": StatementInSerializer},
                   responses={201: ReconciliationOutSerializer})  # fmt: skip
    def post(self, request):
        data = _body(StatementInSerializer, request.data)
        statement = services.statement_import(
            source=data["source"],
            institution=data["institution"],
            content=data["file"].read(),
            file_name=data["file"].name,
            actor=request.user,
        )
        recon = services.reconciliation_external_run(statement=statement, actor=request.user)
        return Response(ReconciliationOutSerializer(_reconciliation(recon)).data, status=201)


class InternalReconciliationInSerializer(serializers.Serializer):
    business_date = serializers.DateField()
    currency = serializers.CharField(max_length=3, default="CNY")


class InternalReconciliationApi(APIView):
    """Segregated funds vs the day's client-money requirement."""

    permission_classes = _writes("custody.add_reconciliation")

    @extend_schema(request=InternalReconciliationInSerializer,
                   responses={201: ReconciliationOutSerializer})  # fmt: skip
    def post(self, request):
        data = _body(InternalReconciliationInSerializer, request.data)
        recon = services.reconciliation_internal_run(
            business_date=data["business_date"], currency=data["currency"], actor=request.user
        )
        return Response(ReconciliationOutSerializer(_reconciliation(recon)).data, status=201)


class BreakOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reconciliation = serializers.IntegerField()
    unit = serializers.CharField()
    expected = serializers.DecimalField(**LEDGER.fields)
    actual = serializers.DecimalField(**LEDGER.fields)
    difference = serializers.DecimalField(**LEDGER.fields)
    status = serializers.CharField()
    due_at = serializers.DateTimeField()
    late = serializers.BooleanField()


def _break(brk) -> dict:
    return {
        "id": brk.pk,
        "reconciliation": brk.reconciliation_id,
        "unit": brk.unit,
        "expected": brk.expected,
        "actual": brk.actual,
        "difference": brk.difference,
        "status": brk.status,
        "due_at": brk.due_at,
        "late": break_is_late(brk),
    }


class BreaksApi(APIView):
    """Open reconciliation breaks, oldest due first, late ones flagged."""

    permission_classes = [CustodyViewer, SecondFactorForStaffWrites]

    @extend_schema(responses={200: BreakOutSerializer(many=True)})
    def get(self, request):
        rows = selectors.breaks_open().order_by("due_at", "pk")
        return Response(BreakOutSerializer([_break(b) for b in rows], many=True).data)


class ReasonInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class BreakResolveApi(APIView):
    permission_classes = MOVES_HOUSE_MONEY

    @extend_schema(request=ReasonInSerializer, responses={200: BreakOutSerializer})
    def post(self, request, pk: int):
        data = _body(ReasonInSerializer, request.data)
        brk = _get_or_404(ReconciliationBreak, pk, "break")
        brk = services.reconciliation_break_resolve(brk=brk, actor=request.user, **data)
        return Response(BreakOutSerializer(_break(brk)).data)


class HouseMoneyInSerializer(serializers.Serializer):
    amount = money_field()
    currency = serializers.CharField(max_length=3, default="CNY")
    reason = serializers.CharField(max_length=300)


class EntryOutSerializer(serializers.Serializer):
    entry = serializers.IntegerField()
    memo = serializers.CharField()


def _entry(entry) -> dict:
    return {"entry": entry.pk, "memo": entry.memo}


class ReserveContributionApi(APIView):
    """House money set aside in the reserve fund (Dr reserve fund, Cr house bank)."""

    permission_classes = MOVES_HOUSE_MONEY
    move = staticmethod(services.reserve_fund_contribute)

    @extend_schema(request=HouseMoneyInSerializer, parameters=[IDEMPOTENCY],
                   responses={201: EntryOutSerializer})  # fmt: skip
    def post(self, request):
        data = _body(HouseMoneyInSerializer, request.data)
        entry = self.move(actor=request.user, idempotency_key=idempotency_key(request), **data)
        return Response(EntryOutSerializer(_entry(entry)).data, status=201)


class HouseCapitalApi(ReserveContributionApi):
    """Capital paid into the house bank (Dr house bank, Cr house capital)."""

    move = staticmethod(services.house_capital_contribute)


class FacilityInSerializer(serializers.Serializer):
    bank = serializers.CharField(max_length=100)
    limit = money_field()
    currency = serializers.CharField(max_length=3, default="CNY")
    start_date = serializers.DateField()
    expiry_date = serializers.DateField()
    fee_rate = ratio_field(sign=NON_NEGATIVE, default=0)
    covenants = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(max_length=300)


class FacilityOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bank = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    limit = serializers.DecimalField(max_digits=20, decimal_places=2)
    drawn = serializers.DecimalField(max_digits=20, decimal_places=2)
    available = serializers.DecimalField(max_digits=20, decimal_places=2)
    start_date = serializers.DateField()
    expiry_date = serializers.DateField()


def _facility(f) -> dict:
    return {
        "id": f.pk,
        "bank": f.bank,
        "status": f.status,
        "currency": f.currency,
        "limit": f.limit,
        "drawn": selectors.facility_drawn(facility=f),
        "available": selectors.facility_available(facility=f),
        "start_date": f.start_date,
        "expiry_date": f.expiry_date,
    }


class FacilitiesApi(APIView):
    permission_classes = [
        CustodyViewer,
        writes_need(services.MOVE_PERM),
        SecondFactorForStaffWrites,
    ]

    @extend_schema(responses={200: FacilityOutSerializer(many=True)})
    def get(self, request):
        rows = CreditFacility.objects.order_by("status", "expiry_date", "pk")
        return Response(FacilityOutSerializer([_facility(f) for f in rows], many=True).data)

    @extend_schema(request=FacilityInSerializer, responses={201: FacilityOutSerializer})
    def post(self, request):
        data = _body(FacilityInSerializer, request.data)
        facility = services.facility_create(actor=request.user, **data)
        return Response(FacilityOutSerializer(_facility(facility)).data, status=201)


class FacilityAmountInSerializer(serializers.Serializer):
    amount = money_field()
    reason = serializers.CharField(max_length=300)


class FacilityDrawApi(APIView):
    permission_classes = MOVES_HOUSE_MONEY
    move = staticmethod(services.facility_draw)

    @extend_schema(request=FacilityAmountInSerializer, parameters=[IDEMPOTENCY],
                   responses={201: EntryOutSerializer})  # fmt: skip
    def post(self, request, pk: int):
        data = _body(FacilityAmountInSerializer, request.data)
        facility = _get_or_404(CreditFacility, pk, "facility")
        entry = self.move(
            facility=facility, actor=request.user, idempotency_key=idempotency_key(request), **data
        )
        return Response(EntryOutSerializer(_entry(entry)).data, status=201)


class FacilityRepayApi(FacilityDrawApi):
    move = staticmethod(services.facility_repay)


class FacilityCloseApi(APIView):
    permission_classes = MOVES_HOUSE_MONEY

    @extend_schema(request=ReasonInSerializer, responses={200: FacilityOutSerializer})
    def post(self, request, pk: int):
        data = _body(ReasonInSerializer, request.data)
        facility = _get_or_404(CreditFacility, pk, "facility")
        facility = services.facility_close(facility=facility, actor=request.user, **data)
        return Response(FacilityOutSerializer(_facility(facility)).data)


def _get_or_404(model, pk: int, name: str):
    row = model.objects.filter(pk=pk).first()
    if row is None:
        raise NotFound(f"{name}: no {name} #{pk}")
    return row
