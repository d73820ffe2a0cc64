"""Margin-call API: calls (with a status filter), notices (the investor acknowledges), and
liquidation plans (prepare, approve, reject, execute). Investors see only their own rows
(another investor's id answers 404); writes need the role's permission (403 otherwise),
checked by the services, and approval a session verified with a second factor."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from lending.common.api import status_filter
from lending.margin_calls import selectors
from lending.margin_calls import services as calls
from lending.margin_calls.models import MarginCallStatus
from lending.margin_calls.serializers import MarginCallSerializer, NoticeSerializer

STATUS_PARAM = OpenApiParameter(
    "status", str, description="open, overdue, liquidating, cured, closed, or unfinished"
)


class MarginCallListApi(ListAPIView):
    serializer_class = MarginCallSerializer
    filter_backends: list = []

    @extend_schema(parameters=[STATUS_PARAM])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        status = status_filter(self.request, MarginCallStatus.values)
        return selectors.calls_for(self.request.user, status=status)


class MarginCallDetailApi(APIView):
    @extend_schema(responses=MarginCallSerializer)
    def get(self, request, pk: int):
        return Response(MarginCallSerializer(selectors.call_for(request.user, pk)).data)


class NoticeListApi(ListAPIView):
    serializer_class = NoticeSerializer
    filter_backends: list = []

    def get_queryset(self):
        return selectors.notices_for(self.request.user)


class NoticeAcknowledgeApi(APIView):
    @extend_schema(request=None, responses=NoticeSerializer)
    def post(self, request, pk: int):
        notice = selectors.notice_for(request.user, pk)
        notice = calls.notice_acknowledge(notice=notice, actor=request.user)
        return Response(NoticeSerializer(notice).data)
