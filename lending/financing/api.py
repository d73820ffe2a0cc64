"""Financing API: withdrawals on a credit account (purchases and sales are orders, in
lending.orders). Investors act only on their own accounts (another's id answers 404); writes
need the right role permission (403), checked by the services. Money-moving writes need an
Idempotency-Key."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import ValidationFailed
from lending.common.api import IDEMPOTENCY, idempotency_key, validated
from lending.credit import selectors as credit_selectors
from lending.financing import services as financing_services
from lending.financing.serializers import (
    WithdrawalInSerializer,
    WithdrawalOutSerializer,
    withdrawal_data,
)
from lending.instruments import selectors as instruments_selectors


class WithdrawalApi(APIView):
    @extend_schema(
        request=WithdrawalInSerializer,
        parameters=[IDEMPOTENCY],
        responses={201: WithdrawalOutSerializer},
    )
    def post(self, request, pk: int):
        account = credit_selectors.credit_account_for(request.user, pk)
        body = validated(WithdrawalInSerializer, request.data)
        key = idempotency_key(request)
        if body["kind"] == "cash":
            if not body.get("amount"):
                raise ValidationFailed("amount: required", extra={"field": "amount"})
            request_ = financing_services.cash_withdrawal_request(
                credit_account=account,
                amount=body["amount"],
                actor=request.user,
                idempotency_key=key,
                reason=body["reason"],
            )
        else:
            if not body.get("instrument") or not body.get("quantity"):
                raise ValidationFailed(
                    "instrument, quantity: required", extra={"field": "quantity"}
                )
            request_ = financing_services.securities_withdrawal_request(
                credit_account=account,
                instrument=instruments_selectors.instrument_by_code(body["instrument"]),
                quantity=body["quantity"],
                actor=request.user,
                idempotency_key=key,
                reason=body["reason"],
            )
        return Response(withdrawal_data(request_), status=201)
