"""Filings API: request, list, retrieve, download, and the sign-off steps.
No rules here: services decide, selectors decide who sees what."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_permissions import SecondFactorForStaffWrites, writes_need

from . import downloads, kinds, selectors, services
from .serializers import (
    FilingActionSerializer,
    FilingFilterSerializer,
    FilingKindSerializer,
    FilingRequestSerializer,
    FilingSerializer,
    StatementRunDetailSerializer,
    StatementRunRequestSerializer,
    StatementRunRetrySerializer,
    StatementRunSerializer,
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


#: Statement runs are started and retried with reports.add_filing: refused before the body
#: is read (the services check it again).
RUN_WRITES = [IsAuthenticated, writes_need("reports.add_filing"), SecondFactorForStaffWrites]


class StatementRunListCreateView(generics.ListAPIView):
    """GET: the month's statement runs with their progress (staff who may see filings).
    POST: start a finished month's run (reports.add_filing)."""

    serializer_class = StatementRunSerializer
    permission_classes = RUN_WRITES
    filter_backends: list = []

    def get_queryset(self):
        return selectors.statement_runs_visible_to(self.request.user)

    @extend_schema(request=StatementRunRequestSerializer, responses={202: StatementRunSerializer})
    def post(self, request):
        data = StatementRunRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.statement_run_start(actor=request.user, **data.validated_data)
        return Response(
            StatementRunSerializer(run, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


def _run_detail(run, request) -> dict:
    context = {
        "request": request,
        "counts": selectors.statement_run_counts(run=run),
        "failed": selectors.statement_run_failed(run=run),
    }
    return StatementRunDetailSerializer(run, context=context).data


class StatementRunDetailView(APIView):
    """A run's progress (its statements counted by status now) and its failed accounts."""

    @extend_schema(responses=StatementRunDetailSerializer)
    def get(self, request, pk: int):
        run = selectors.statement_run_get(user=request.user, run_id=pk)
        return Response(_run_detail(run, request))


class StatementRunRetryView(APIView):
    """Queue the run's FAILED statements again (reports.add_filing); the others stay."""

    permission_classes = RUN_WRITES

    @extend_schema(
        request=StatementRunRetrySerializer, responses={202: StatementRunDetailSerializer}
    )
    def post(self, request, pk: int):
        run = selectors.statement_run_get(user=request.user, run_id=pk)
        data = StatementRunRetrySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.statement_run_retry_failed(
            run=run, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(_run_detail(run, request), status=status.HTTP_202_ACCEPTED)
