"""Instruments API: the instrument list with filters, and price ticks from the market-data
feed (the price_feed role's token; idempotent per instrument and time)."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from lending.common.api import validated
from lending.instruments import selectors as instruments_selectors
from lending.instruments import services as instruments_services
from lending.instruments.serializers import (
    InstrumentFilterSerializer,
    InstrumentSerializer,
    PricesInSerializer,
    PricesOutSerializer,
)


class InstrumentListApi(ListAPIView):
    serializer_class = InstrumentSerializer

    @extend_schema(parameters=[InstrumentFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = validated(InstrumentFilterSerializer, self.request.query_params)
        return instruments_selectors.instruments(**filters)


class PricesApi(APIView):
    @extend_schema(request=PricesInSerializer, responses={200: PricesOutSerializer})
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {"ticks": request.data}
        body = validated(PricesInSerializer, data)
        accepted, ignored = instruments_services.prices_ingest(
            [dict(t) for t in body["ticks"]], source=body["source"], actor=request.user
        )
        return Response({"accepted": accepted, "ignored": ignored})
