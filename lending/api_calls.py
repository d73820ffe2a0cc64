"""Margin-call API: calls (with a status filter), notices (the investor acknowledges), and
liquidation plans (prepare, approve, reject, execute). Investors see only their own rows
(another investor's id answers 404); writes need the role's permission (403 otherwise),
checked by the services, and approval a session verified with a second factor."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import ValidationFailed

from . import selectors_calls as selectors
from .brokers import default_broker
from .models import LiquidationPlanStatus, MarginCallStatus
from .serializers_calls import (
    LiquidationPlanSerializer,
    MarginCallSerializer,
    NoticeSerializer,
    PlanDecisionSerializer,
    PlanPrepareSerializer,
)
from .services import calls, liquidation


def _parsed(serializer_class, request):
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def _status(request, choices) -> str | None:
    status = request.query_params.get("status") or None
    allowed = {*choices, "unfinished"}
    if status is not None and status not in allowed:
        raise ValidationFailed(
            f"status: one of {', '.join(sorted(allowed))}", extra={"field": "status"}
        )
    return status


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
        status = _status(self.request, MarginCallStatus.values)
        return selectors.calls_for(self.request.user, status=status)


class MarginCallDetailApi(APIView):
    @extend_schema(responses=MarginCallSerializer)
    def get(self, request, pk: int):
        return Response(MarginCallSerializer(selectors.call_for(request.user, pk)).data)


class MarginCallPlanPrepareApi(APIView):
    @extend_schema(request=PlanPrepareSerializer, responses={201: LiquidationPlanSerializer})
    def post(self, request, pk: int):
        call = selectors.call_for(request.user, pk)
        data = _parsed(PlanPrepareSerializer, request)
        plan = liquidation.liquidation_plan_prepare(
            call=call,
            actor=request.user,
            order_rule=data.get("order_rule"),
            reason=data.get("reason", ""),
        )
        return Response(LiquidationPlanSerializer(plan).data, status=201)


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


class LiquidationPlanListApi(ListAPIView):
    serializer_class = LiquidationPlanSerializer
    filter_backends: list = []

    @extend_schema(parameters=[STATUS_PARAM])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        status = _status(self.request, LiquidationPlanStatus.values)
        return selectors.plans_for(self.request.user, status=status)


class LiquidationPlanDetailApi(APIView):
    @extend_schema(responses=LiquidationPlanSerializer)
    def get(self, request, pk: int):
        return Response(LiquidationPlanSerializer(selectors.plan_for(request.user, pk)).data)


class LiquidationPlanApproveApi(APIView):
    @extend_schema(request=PlanDecisionSerializer, responses=LiquidationPlanSerializer)
    def post(self, request, pk: int):
        plan = selectors.plan_for(request.user, pk)
        data = _parsed(PlanDecisionSerializer, request)
        plan = liquidation.liquidation_plan_approve(
            plan=plan, actor=request.user, reason=data["reason"]
        )
        return Response(LiquidationPlanSerializer(plan).data)


class LiquidationPlanRejectApi(APIView):
    @extend_schema(request=PlanDecisionSerializer, responses=LiquidationPlanSerializer)
    def post(self, request, pk: int):
        plan = selectors.plan_for(request.user, pk)
        data = _parsed(PlanDecisionSerializer, request)
        plan = liquidation.liquidation_plan_reject(
            plan=plan, actor=request.user, reason=data["reason"]
        )
        return Response(LiquidationPlanSerializer(plan).data)


class LiquidationPlanExecuteApi(APIView):
    @extend_schema(request=None, responses=LiquidationPlanSerializer)
    def post(self, request, pk: int):
        plan = selectors.plan_for(request.user, pk)
        plan = liquidation.liquidation_execute(
            plan=plan, broker=default_broker(), actor=request.user
        )
        plan = selectors.plan_for(request.user, plan.pk)
        return Response(LiquidationPlanSerializer(plan).data)
