"""Lending inventory API (staff): each instrument's inventory with its lots (GET), a lot added
from the custodian's confirmation (POST, operations; it books shares, so it takes an
Idempotency-Key: the same key and body repeat the first answer, another body is a 409).
Permissions are checked first (403), then by the services."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_fields import quantity_field
from accounts.permissions import require_permission
from compliance import selectors as compliance_selectors
from lending.common.api import IDEMPOTENCY, decimal_text, idempotency_key, validated
from lending.instruments import selectors as instruments_selectors
from lending.shorts import selectors, services
from lending.shorts.models import LotSource

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
