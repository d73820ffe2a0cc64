"""Lending inventory API (staff): each instrument's inventory with its lots (GET), a lot added
from the custodian's confirmation (POST, operations; it books shares, so it takes an
Idempotency-Key: the same key and body repeat the first answer, another body is a 409).
Short position extensions (lending.shorts.maturity): the list, one position's history and a
new request (the investor on their own position), the check (operations) and the approval or
rejection (a second person). Permissions are checked first (403), then by the services."""

from decimal import Decimal

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_fields import quantity_field
from accounts.errors import NotFound
from accounts.permissions import require_permission
from compliance import selectors as compliance_selectors
from lending.common.api import (
    IDEMPOTENCY,
    decimal_text,
    idempotency_key,
    status_filter,
    validated,
)
from lending.instruments import selectors as instruments_selectors
from lending.shorts import maturity, selectors, services
from lending.shorts.models import LotSource, ShortExtensionStatus, ShortPositionExtension

VIEW_PERM = "lending.view_lendinglot"


class LendingLotInSerializer(serializers.Serializer):
    source = serializers.ChoiceField(
        choices=LotSource.choices,
        required=False,
        default=LotSource.HOUSE,
        help_text="house (the desk's own shares) or refinancing (转融通, while the switch is on)",
    )
    instrument = serializers.CharField(max_length=24, help_text="e.g. SSE:600519")
    quantity = quantity_field(help_text="Whole shares, as the custodian confirms them")
    confirmation_reference = serializers.CharField(max_length=64)
    reason = serializers.CharField(max_length=300)


class LendingLotOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    instrument = serializers.CharField()
    source = serializers.CharField()
    confirmation_reference = serializers.CharField()
    acquired_on = serializers.DateField()
    confirmed_quantity = serializers.CharField()
    quantity = serializers.CharField()
    reserved = serializers.CharField()
    lent = serializers.CharField()
    available = serializers.CharField()
    entry = serializers.IntegerField()


class LendingInventoryOutSerializer(serializers.Serializer):
    instrument = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.CharField()
    reserved = serializers.CharField()
    lent = serializers.CharField()
    available = serializers.CharField()
    sources = serializers.ListField(child=serializers.CharField())
    lots = LendingLotOutSerializer(many=True)


def _shares(value) -> str:
    return decimal_text(Decimal(value), "1")


def lot_data(lot) -> dict:
    return {
        "id": lot.pk,
        "instrument": lot.instrument.ledger_unit,
        "source": lot.source,
        "confirmation_reference": lot.confirmation_reference,
        "acquired_on": lot.acquired_on,
        "confirmed_quantity": _shares(lot.confirmed_quantity),
        "quantity": _shares(lot.quantity),
        "reserved": _shares(lot.reserved),
        "lent": _shares(lot.lent),
        "available": _shares(lot.available),
        "entry": lot.entry_id,
    }


def inventory_data(row) -> dict:
    return {
        "instrument": row.instrument.ledger_unit,
        "name": row.instrument.name,
        "quantity": _shares(row.quantity),
        "reserved": _shares(row.reserved),
        "lent": _shares(row.lent),
        "available": _shares(row.available),
        "sources": list(row.sources),
        "lots": [lot_data(lot) for lot in row.lots],
    }


class InventoryApi(APIView):
    """The lending inventory per instrument (staff); add a lot (operations)."""

    @extend_schema(responses={200: LendingInventoryOutSerializer(many=True)})
    def get(self, request):
        require_permission(request.user, VIEW_PERM, action="read the lending inventory")
        rows = selectors.inventory(on=compliance_selectors.today())
        return Response([inventory_data(row) for row in rows])

    @extend_schema(
        request=LendingLotInSerializer,
        parameters=[IDEMPOTENCY],
        responses={201: LendingLotOutSerializer},
    )
    def post(self, request):
        require_permission(request.user, services.ADD_PERM, action="add lending inventory")
        body = validated(LendingLotInSerializer, request.data)
        key = idempotency_key(request)
        add = (
            services.inventory_refinancing_add
            if body["source"] == LotSource.REFINANCING
            else services.inventory_house_add
        )
        lot = add(
            instrument=instruments_selectors.instrument_by_code(body["instrument"]),
            quantity=body["quantity"],
            confirmation_reference=body["confirmation_reference"],
            actor=request.user,
            reason=body["reason"],
            idempotency_key=key,
        )
        return Response(lot_data(lot), status=201)


# --- short position extensions (lending.shorts.maturity) --------------------------------------


class ShortExtensionRequestSerializer(serializers.Serializer):
    months = serializers.IntegerField(help_text="Months from the due date (1 to the dated maximum)")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ShortExtensionPrepareSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, help_text="What the checker verified")


class ShortExtensionDecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class ShortExtensionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    credit_account = serializers.IntegerField()
    instrument = serializers.CharField()
    quantity_owed = serializers.CharField()
    months = serializers.IntegerField()
    old_due_on = serializers.DateField()
    new_due_on = serializers.DateField()
    status = serializers.CharField()
    reason = serializers.CharField()
    requested_at = serializers.DateTimeField()
    prepared_by = serializers.CharField(allow_null=True)
    prepared_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()


def extension_data(e: ShortPositionExtension) -> dict:
    position = e.position
    return {
        "id": e.pk,
        "position": e.position_id,
        "credit_account": position.credit_account_id,
        "instrument": position.instrument.ledger_unit,
        "quantity_owed": _shares(position.quantity_outstanding),
        "months": e.months,
        "old_due_on": e.old_due_on,
        "new_due_on": e.new_due_on,
        "status": e.status,
        "reason": e.reason,
        "requested_at": e.created_at,
        "prepared_by": e.prepared_by.email if e.prepared_by_id else None,
        "prepared_at": e.prepared_at,
        "decided_by": e.decided_by.email if e.decided_by_id else None,
        "decided_at": e.decided_at,
        "decision_reason": e.decision_reason,
    }


def _readers_only(user) -> None:
    """An investor reads their own; staff need the view permission (403 otherwise)."""
    if getattr(user, "investor_profile", None) is None:
        require_permission(user, maturity.VIEW_PERM, action="read short position extensions")


def _extension_for(user, pk: int) -> ShortPositionExtension:
    found = maturity.extensions_for(user).filter(pk=pk).first()
    if found is None:
        raise NotFound(_("extension: no extension #%(pk)s") % {"pk": pk})
    return found


class ShortExtensionListApi(APIView):
    """Short position extensions the user may see (staff: all; an investor: their own), newest
    first; `?status=requested|prepared|approved|rejected|unfinished` narrows them."""

    @extend_schema(responses={200: ShortExtensionOutSerializer(many=True)})
    def get(self, request):
        _readers_only(request.user)
        status = status_filter(request, ShortExtensionStatus.values)
        rows = maturity.extensions_for(request.user)
        if status == "unfinished":
            rows = rows.filter(status__in=maturity.PENDING)
        elif status:
            rows = rows.filter(status=status)
        return Response([extension_data(e) for e in rows.order_by("-created_at", "-pk")[:500]])


class ShortPositionExtensionsApi(APIView):
    """One short position's extensions: its history (GET) and a new request (POST), by the
    investor on their own position (another's answers 404) or staff on the investor's written
    instruction (its reference in `reason`)."""

    @extend_schema(responses={200: ShortExtensionOutSerializer(many=True)})
    def get(self, request, pk: int):
        _readers_only(request.user)
        position = maturity.position_for(request.user, pk)
        rows = maturity.extensions_for(request.user).filter(position=position)
        return Response([extension_data(e) for e in rows.order_by("-created_at", "-pk")])

    @extend_schema(
        request=ShortExtensionRequestSerializer, responses={201: ShortExtensionOutSerializer}
    )
    def post(self, request, pk: int):
        if getattr(request.user, "investor_profile", None) is None:
            require_permission(request.user, maturity.REQUEST_PERM, action="extension")
        position = maturity.position_for(request.user, pk)  # another investor's: 404
        body = validated(ShortExtensionRequestSerializer, request.data)
        extension = maturity.short_extension_request(
            position=position, months=body["months"], actor=request.user, reason=body["reason"]
        )
        return Response(extension_data(extension), status=201)


class ShortExtensionPrepareApi(APIView):
    """Operations check a request and send it for approval (the maker's step)."""

    @extend_schema(
        request=ShortExtensionPrepareSerializer, responses={200: ShortExtensionOutSerializer}
    )
    def post(self, request, pk: int):
        require_permission(request.user, maturity.PREPARE_PERM, action="check an extension")
        body = validated(ShortExtensionPrepareSerializer, request.data)
        extension = maturity.short_extension_prepare(
            extension=_extension_for(request.user, pk), actor=request.user, note=body["note"]
        )
        return Response(extension_data(extension))


class ShortExtensionApproveApi(APIView):
    """A second person approves a checked request: the position's due date moves."""

    @extend_schema(
        request=ShortExtensionDecisionSerializer, responses={200: ShortExtensionOutSerializer}
    )
    def post(self, request, pk: int):
        require_permission(request.user, maturity.APPROVE_PERM, action="approve an extension")
        body = validated(ShortExtensionDecisionSerializer, request.data)
        extension = maturity.short_extension_approve(
            extension=_extension_for(request.user, pk), actor=request.user, reason=body["reason"]
        )
        return Response(extension_data(extension))


class ShortExtensionRejectApi(APIView):
    """A second person rejects a request, with the reason the investor is told."""

    @extend_schema(
        request=ShortExtensionDecisionSerializer, responses={200: ShortExtensionOutSerializer}
    )
    def post(self, request, pk: int):
        require_permission(request.user, maturity.APPROVE_PERM, action="reject an extension")
        body = validated(ShortExtensionDecisionSerializer, request.data)
        extension = maturity.short_extension_reject(
            extension=_extension_for(request.user, pk), actor=request.user, reason=body["reason"]
        )
        return Response(extension_data(extension))
