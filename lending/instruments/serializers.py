"""API shapes of instruments and price ticks. Prices are decimal strings; no rules here."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_fields import price_field
from lending.common.api import decimal_text
from lending.instruments.models import Instrument, InstrumentCategory


class InstrumentSerializer(serializers.ModelSerializer):
    eligible = serializers.BooleanField(source="collateral_eligible", read_only=True)
    haircut = serializers.SerializerMethodField()
    last_price = serializers.SerializerMethodField()
    last_price_at = serializers.SerializerMethodField()

    class Meta:
        model = Instrument
        fields = [
            "id",
            "code",
            "exchange",
            "name",
            "category",
            "haircut",
            "eligible",
            "financing_eligible",
            "financing_stopped",
            "is_st",
            "suspended",
            "delisting",
            "board",
            "listed_on",
            "lot_size",
            "last_price",
            "last_price_at",
        ]

    def get_haircut(self, obj) -> str:
        return decimal_text(obj.effective_haircut, "0.0001")

    def get_last_price(self, obj) -> str | None:
        latest = getattr(obj, "latest_price", None)
        return decimal_text(latest.price) if latest else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_price_at(self, obj):
        latest = getattr(obj, "latest_price", None)
        return latest.at.isoformat() if latest else None


class InstrumentFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True)
    category = serializers.ChoiceField(
        choices=InstrumentCategory.choices, required=False, allow_blank=True
    )
    exchange = serializers.CharField(required=False, allow_blank=True)


class TickSerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=24)
    price = price_field()
    at = serializers.CharField(max_length=64)


class PricesInSerializer(serializers.Serializer):
    ticks = TickSerializer(many=True)
    source = serializers.CharField(max_length=40, required=False, default="api")


class PricesOutSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    ignored = serializers.IntegerField()
