"""Filings API: request, list, retrieve, download, and the sign-off steps.
No rules here: services decide, selectors decide who sees what."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import downloads, kinds, selectors, services
from .serializers import (
    FilingActionSerializer,
    FilingFilterSerializer,
    FilingKindSerializer,
    FilingRequestSerializer,
    FilingSerializer,
)


class FilingListCreateView(generics.ListAPIView):
    """GET: filings the user may see (filter with ?kind= and ?status=). POST: request one."""

    serializer_class = FilingSerializer
    filter_backends: list = []

    @extend_schema(parameters=[FilingFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = FilingFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return selectors.filing_list(
            user=self.request.user,
            kind=params.validated_data.get("kind"),
            status=params.validated_data.get("status"),
        )

    @extend_schema(request=FilingRequestSerializer, responses={202: FilingSerializer})
    def post(self, request):
        data = FilingRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        filing = services.filing_request(actor=request.user, **data.validated_data)
        return Response(
            FilingSerializer(filing, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class FilingDetailView(APIView):
    @extend_schema(responses=FilingSerializer)
    def get(self, request, pk: int):
        filing = selectors.filing_get(user=request.user, filing_id=pk)
        return Response(FilingSerializer(filing, context={"request": request}).data)


class FilingDownloadView(APIView):
    @extend_schema(responses={200: OpenApiResponse(description="the PDF, JSON or CSV file")})
    def get(self, request, pk: int, fmt: str):
        filing = selectors.filing_get(user=request.user, filing_id=pk)
        return downloads.filing_file_response(filing, fmt)


class _FilingActionView(APIView):
    action_name = ""

    def perform(self, filing, actor, data):  # pragma: no cover - overridden
        raise NotImplementedError

    @extend_schema(request=FilingActionSerializer, responses=FilingSerializer)
    def post(self, request, pk: int):
        filing = selectors.filing_get(user=request.user, filing_id=pk)
        data = FilingActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = self.perform(filing, request.user, data.validated_data)
        code = status.HTTP_202_ACCEPTED if result.pk != filing.pk else status.HTTP_200_OK
        if result.status == "queued":
            code = status.HTTP_202_ACCEPTED
        return Response(FilingSerializer(result, context={"request": request}).data, status=code)


class FilingApproveView(_FilingActionView):
    def perform(self, filing, actor, data):
        return services.filing_approve(filing=filing, actor=actor, reason=data["reason"])


class FilingSubmitView(_FilingActionView):
    def perform(self, filing, actor, data):
        return services.filing_submit(
            filing=filing,
            actor=actor,
            reason=data["reason"],
            submission_reference=data["submission_reference"],
        )


class FilingRegenerateView(_FilingActionView):
    def perform(self, filing, actor, data):
        return services.filing_regenerate(filing=filing, actor=actor, reason=data["reason"])


class FilingCorrectView(_FilingActionView):
    def perform(self, filing, actor, data):
        return services.filing_correct(filing=filing, actor=actor, reason=data["reason"])


class FilingKindListView(APIView):
    @extend_schema(responses=FilingKindSerializer(many=True))
    def get(self, request):
        rows = [
            {
                "code": k.code,
                "title": str(k.title),
                "available": k.available,
                "daily": k.daily,
                "pending": str(k.pending),
            }
            for k in kinds.kinds_all()
        ]
        return Response(FilingKindSerializer(rows, many=True).data)
