"""Instruments API: the instrument list with filters (and adding one: risk) showing each
instrument's haircut in force today with its sources, an instrument's category change (its
haircut re-capped), price ticks from the market-data feed (the price_feed role's token;
idempotent per instrument and time) and the exchanges' lists (imports read by staff; a file
imported by a risk officer, multipart)."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_permissions import SecondFactorForStaffWrites, writes_need
from accounts.errors import NotFound, PermissionDenied
from lending.common.api import validated
from lending.instruments import exchange_lists
from lending.instruments import selectors as instruments_selectors
from lending.instruments import services as instruments_services
from lending.instruments.models import Exchange, ExchangeListKind, Instrument
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

    def list(self, request, *args, **kwargs):
        # the haircuts in force of the page's instruments, read at once (two queries)
        page = self.paginate_queryset(self.get_queryset())
        context = self.get_serializer_context()
        context["haircuts"] = instruments_selectors.haircuts_in_force(page)
        data = InstrumentSerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)


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


class ExchangeListInSerializer(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=Exchange.choices)
    kind = serializers.ChoiceField(choices=ExchangeListKind.choices)
    effective_on = serializers.DateField()
    file = serializers.FileField(
        help_text="UTF-8 CSV with a header: code,conversion_rate (eligible collateral) or "
        "code (financing target)"
    )
    reason = serializers.CharField(max_length=300)


class ExchangeListOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    exchange = serializers.CharField()
    kind = serializers.CharField()
    effective_on = serializers.DateField()
    file_name = serializers.CharField()
    sha256 = serializers.CharField()
    row_count = serializers.IntegerField()
    unknown_codes = serializers.ListField(child=serializers.CharField())
    imported_by = serializers.CharField(source="imported_by.email", default=None, allow_null=True)
    imported_at = serializers.DateTimeField()
    reason = serializers.CharField()


class ExchangeListApi(APIView):
    """GET: the imports, newest first (staff with lending.view_instrument). POST (multipart):
    import one list file; 201 with the import, or 200 with the first import when the same file
    was already imported for that exchange, list and day. A bad line refuses the whole file
    (400 naming each line in extra.errors)."""

    permission_classes = [
        permissions.IsAuthenticated,
        writes_need(exchange_lists.IMPORT_PERMISSION),
        SecondFactorForStaffWrites,
    ]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses={200: ExchangeListOutSerializer(many=True)})
    def get(self, request):
        if not request.user.has_perm("lending.view_instrument"):
            raise PermissionDenied(
                "exchange lists: your role does not allow this (lending.view_instrument)",
                extra={"permission": "lending.view_instrument"},
            )
        rows = exchange_lists.imports()[:200]
        return Response(ExchangeListOutSerializer(rows, many=True).data)

    @extend_schema(
        request={"multipart/form-data": ExchangeListInSerializer},
        responses={201: ExchangeListOutSerializer, 200: ExchangeListOutSerializer},
    )
    def post(self, request):
        body = validated(ExchangeListInSerializer, request.data)
        upload = body["file"]
        list_import, created = exchange_lists.exchange_list_import(
            exchange=body["exchange"],
            kind=body["kind"],
            effective_on=body["effective_on"],
            file_name=upload.name,
            content=upload.read(),
            actor=request.user,
            reason=body["reason"],
        )
        return Response(ExchangeListOutSerializer(list_import).data, status=201 if created else 200)
