"""Liquidation API: prepare a plan for a call, list and read plans, approve or reject them
(four eyes, second factor), execute (place the liquidation orders), re-plan an unsold
remainder. Writes need the role's permission, checked by the services."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from lending.common.api import status_filter, validated
from lending.liquidation import selectors as liquidation_selectors
from lending.liquidation import services as liquidation
from lending.liquidation.models import LiquidationPlanStatus
from lending.liquidation.serializers import (
    LiquidationExecuteSerializer,
    LiquidationPlanSerializer,
    PlanDecisionSerializer,
    PlanPrepareSerializer,
    PlanReplanSerializer,
)
from lending.margin_calls import selectors
from lending.margin_calls.api import STATUS_PARAM


class MarginCallPlanPrepareApi(APIView):
    @extend_schema(request=PlanPrepareSerializer, responses={201: LiquidationPlanSerializer})
    def post(self, request, pk: int):
        call = selectors.call_for(request.user, pk)
        data = validated(PlanPrepareSerializer, request.data)
        plan = liquidation.liquidation_plan_prepare(
            call=call,
            actor=request.user,
            order_rule=data.get("order_rule"),
            reason=data.get("reason", ""),
        )
        return Response(LiquidationPlanSerializer(plan).data, status=201)


class LiquidationPlanListApi(ListAPIView):
    serializer_class = LiquidationPlanSerializer
    filter_backends: list = []

    @extend_schema(parameters=[STATUS_PARAM])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        status = status_filter(self.request, LiquidationPlanStatus.values)
        return liquidation_selectors.plans_for(self.request.user, status=status)


class LiquidationPlanDetailApi(APIView):
    @extend_schema(responses=LiquidationPlanSerializer)
    def get(self, request, pk: int):
        return Response(
            LiquidationPlanSerializer(liquidation_selectors.plan_for(request.user, pk)).data
        )


class LiquidationPlanApproveApi(APIView):
    @extend_schema(request=PlanDecisionSerializer, responses=LiquidationPlanSerializer)
    def post(self, request, pk: int):
        plan = liquidation_selectors.plan_for(request.user, pk)
        data = validated(PlanDecisionSerializer, request.data)
        plan = liquidation.liquidation_plan_approve(
            plan=plan, actor=request.user, reason=data["reason"]
        )
        return Response(LiquidationPlanSerializer(plan).data)


class LiquidationPlanRejectApi(APIView):
    @extend_schema(request=PlanDecisionSerializer, responses=LiquidationPlanSerializer)
    def post(self, request, pk: int):
        plan = liquidation_selectors.plan_for(request.user, pk)
        data = validated(PlanDecisionSerializer, request.data)
        plan = liquidation.liquidation_plan_reject(
            plan=plan, actor=request.user, reason=data["reason"]
        )
        return Response(LiquidationPlanSerializer(plan).data)


class LiquidationPlanExecuteApi(APIView):
    """Place what is left to sell as liquidation orders (the FIX gateway sends them).
    Idempotent: while orders of the plan still work at the exchange their shares are not
    placed again; the answer lists the orders this call placed (`orders_sent`, empty when
    none) and those still working (`working_orders`)."""

    @extend_schema(request=None, responses=LiquidationExecuteSerializer)
    def post(self, request, pk: int):
        plan = liquidation_selectors.plan_for(request.user, pk)
        executed = liquidation.liquidation_execute(plan=plan, actor=request.user)
        plan = liquidation_selectors.plan_for(request.user, executed.pk)
        plan.orders_sent = executed.orders_sent
        plan.working_orders = list(liquidation_selectors.working_orders_of(plan))
        return Response(LiquidationExecuteSerializer(plan).data)


class LiquidationPlanReplanApi(APIView):
    """Stop a plan whose orders left something unsold (expired, cancelled or rejected, none
    working) and prepare a new plan for the rest: 201 with the new plan, to be approved by
    another risk officer; 200 with the stopped plan when the call closed instead (nothing
    sellable left: a default, or the account back at its target)."""

    @extend_schema(request=PlanReplanSerializer, responses={201: LiquidationPlanSerializer})
    def post(self, request, pk: int):
        plan = liquidation_selectors.plan_for(request.user, pk)
        data = validated(PlanReplanSerializer, request.data)
        result = liquidation.liquidation_replan(
            plan=plan, actor=request.user, reason=data.get("reason", "")
        )
        result = liquidation_selectors.plan_for(request.user, result.pk)
        return Response(
            LiquidationPlanSerializer(result).data, status=201 if result.pk != plan.pk else 200
        )
