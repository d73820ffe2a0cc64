"""API shapes of instruments and price ticks. Prices are decimal strings; no rules here."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_fields import price_field
from lending.common.api import decimal_text
from lending.instruments import selectors as instruments_selectors
from lending.instruments.models import Instrument, InstrumentCategory


class InstrumentSerializer(serializers.ModelSerializer):
    """`haircut` is the haircut in force today: the lowest of the desk's (`desk_haircut`), the
    exchange's conversion rate (`exchange_conversion_rate`, null when no list of its exchange
    is in force) and the category's dated cap (`haircut_cap`); `haircut_sources` names which
    of them set it. A list view passes them for its page in the context ("haircuts")."""

    eligible = serializers.BooleanField(source="collateral_eligible", read_only=True)
    haircut = serializers.SerializerMethodField()
    haircut_sources = serializers.SerializerMethodField()
    desk_haircut = serializers.SerializerMethodField()
    exchange_conversion_rate = serializers.SerializerMethodField()
    haircut_cap = serializers.SerializerMethodField()
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
            "haircut_sources",
            "desk_haircut",
            "exchange_conversion_rate",
            "haircut_cap",
            "eligible",
            "financing_eligible",
            "financing_stopped",
            "shorts_stopped",
            "is_st",
            "suspended",
            "delisting",
            "board",
            "listed_on",
            "lot_size",
            "last_price",
            "last_price_at",
        ]

    def _in_force(self, obj) -> instruments_selectors.HaircutInForce:
        haircuts = self.context.setdefault("haircuts", {})
        if obj.pk not in haircuts:
            haircuts.update(instruments_selectors.haircuts_in_force([obj]))
        return haircuts[obj.pk]

    def get_haircut(self, obj) -> str:
        return decimal_text(self._in_force(obj).value, "0.0001")

    def get_haircut_sources(self, obj) -> list[str]:
        return list(self._in_force(obj).sources)

    def get_desk_haircut(self, obj) -> str:
        return decimal_text(self._in_force(obj).desk, "0.0001")

    def get_exchange_conversion_rate(self, obj) -> str | None:
        rate = self._in_force(obj).exchange
        return None if rate is None else decimal_text(rate, "0.0001")

    def get_haircut_cap(self, obj) -> str:
        return decimal_text(self._in_force(obj).cap, "0.0001")

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
