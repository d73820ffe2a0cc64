"""Orders API: place, list and cancel orders of a credit account. Investors act only on their
own accounts (another's id answers 404); staff need the role's permission, checked by the
services. Placing needs an Idempotency-Key."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from lending.common.api import IDEMPOTENCY, idempotency_key, validated
from lending.credit import selectors as credit_selectors
from lending.instruments import selectors as instruments_selectors
from lending.orders import selectors, services
from lending.orders.models import OrderStatus
from lending.orders.serializers import (
    CancelInSerializer,
    OrderInSerializer,
    OrderOutSerializer,
    order_data,
)

STATUS = OpenApiParameter(
    "status",
    str,
    enum=["working", *OrderStatus.values],
    description="working: new or partially filled",
)


class AccountOrdersApi(APIView):
    @extend_schema(parameters=[STATUS], responses={200: OrderOutSerializer(many=True)})
    def get(self, request, pk: int):
        account = credit_selectors.credit_account_for(request.user, pk)
        status = request.query_params.get("status") or None
        rows = selectors.orders_of_account(account.pk, status=status)[:200]
        return Response([order_data(o) for o in rows])

    @extend_schema(
        request=OrderInSerializer, parameters=[IDEMPOTENCY], responses={201: OrderOutSerializer}
    )
    def post(self, request, pk: int):
        account = credit_selectors.credit_account_for(request.user, pk)
        body = validated(OrderInSerializer, request.data)
        order = services.order_place(
            credit_account=account,
            instrument=instruments_selectors.instrument_by_code(body["instrument"]),
            purpose=body["purpose"],
            quantity=body["quantity"],
            limit_price=body["limit_price"],
            actor=request.user,
            idempotency_key=idempotency_key(request),
            reason=body["reason"],
        )
        return Response(order_data(order), status=201)


class OrderApi(APIView):
    @extend_schema(responses={200: OrderOutSerializer})
    def get(self, request, pk: int):
        return Response(order_data(selectors.order_for(request.user, pk)))


class OrderCancelApi(APIView):
    @extend_schema(request=CancelInSerializer, responses={200: OrderOutSerializer})
    def post(self, request, pk: int):
        order = selectors.order_for(request.user, pk)
        body = validated(CancelInSerializer, request.data)
        order = services.order_cancel(order=order, actor=request.user, reason=body["reason"])
        return Response(order_data(order))
