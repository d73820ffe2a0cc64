"""Instruments API: the instrument list with filters (and adding one: risk), an instrument's
category change (its haircut re-capped), and price ticks from the market-data feed (the
price_feed role's token; idempotent per instrument and time)."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_permissions import SecondFactorForStaffWrites, writes_need
from accounts.errors import NotFound
from lending.common.api import validated
from lending.instruments import selectors as instruments_selectors
from lending.instruments import services as instruments_services
from lending.instruments.models import Instrument
from lending.instruments.serializers import (
    InstrumentFilterSerializer,
    InstrumentSerializer,
    PricesInSerializer,
    PricesOutSerializer,
)


class InstrumentCreateSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=4)
    code = serializers.CharField(max_length=12)
    name = serializers.CharField(max_length=100)
    category = serializers.CharField(max_length=20)
    listed_on = serializers.DateField(required=False, allow_null=True, default=None)
    tradable_float = serializers.IntegerField(min_value=1)
    lot_size = serializers.IntegerField(min_value=1, default=100)
    reason = serializers.CharField(max_length=300)


class CategoryInSerializer(serializers.Serializer):
    category = serializers.CharField(max_length=20)
    reason = serializers.CharField(max_length=300)


class InstrumentListApi(ListAPIView):
    serializer_class = InstrumentSerializer
    permission_classes = [
        permissions.IsAuthenticated,
        writes_need("lending.add_instrument"),
        SecondFactorForStaffWrites,
    ]

    @extend_schema(request=InstrumentCreateSerializer, responses={201: InstrumentSerializer})
    def post(self, request):
        body = validated(InstrumentCreateSerializer, request.data)
        instrument = instruments_services.instrument_create(actor=request.user, **body)
        return Response(InstrumentSerializer(instrument).data, status=201)

    @extend_schema(parameters=[InstrumentFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = validated(InstrumentFilterSerializer, self.request.query_params)
        return instruments_selectors.instruments(**filters)


class InstrumentCategoryApi(APIView):
    permission_classes = [
        permissions.IsAuthenticated,
        writes_need("lending.change_instrument"),
        SecondFactorForStaffWrites,
    ]

    @extend_schema(request=CategoryInSerializer, responses={200: InstrumentSerializer})
    def post(self, request, pk: int):
        body = validated(CategoryInSerializer, request.data)
        instrument = Instrument.objects.filter(pk=pk).first()
        if instrument is None:
            raise NotFound(f"instrument: no instrument #{pk}")
        instrument = instruments_services.instrument_category_set(
            instrument=instrument, actor=request.user, **body
        )
        return Response(InstrumentSerializer(instrument).data)


class PricesApi(APIView):
    @extend_schema(request=PricesInSerializer, responses={200: PricesOutSerializer})
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {"ticks": request.data}
        body = validated(PricesInSerializer, data)
        accepted, ignored = instruments_services.prices_ingest(
            [dict(t) for t in body["ticks"]], source=body["source"], actor=request.user
        )
        return Response({"accepted": accepted, "ignored": ignored})
