"""Financing API: withdrawals and direct repayments on a credit account (purchases and sales
are orders, in lending.orders). Investors act only on their own accounts (another's id answers
404); writes need the right role permission (403), checked by the services. Money-moving
writes need an Idempotency-Key."""

import dataclasses

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_fields import quantity_field
from accounts.errors import NotFound, PermissionDenied, ValidationFailed
from accounts.permissions import require_permission
from lending.common.api import IDEMPOTENCY, decimal_text, idempotency_key, validated
from lending.credit import selectors as credit_selectors
from lending.financing import bank_credits, transfers
from lending.financing import services as financing_services
from lending.financing.models import BankCredit, CollateralTransferIn
from lending.financing.serializers import (
    BankCreditOutSerializer,
    BankCreditsInSerializer,
    BankCreditsResultSerializer,
    RepaymentInSerializer,
    RepaymentOutSerializer,
    WithdrawalInSerializer,
    WithdrawalOutSerializer,
    bank_credit_data,
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


class RepaymentApi(APIView):
    """Direct cash repayment (直接还款): interest first, then the oldest financing. The
    investor on their own account, or staff on the investor's written instruction (the
    instruction's reference in `reason`)."""

    @extend_schema(
        request=RepaymentInSerializer,
        parameters=[IDEMPOTENCY],
        responses={201: RepaymentOutSerializer},
    )
    def post(self, request, pk: int):
        account = credit_selectors.credit_account_for(request.user, pk)
        body = validated(RepaymentInSerializer, request.data)
        result = financing_services.repayment_post(
            credit_account=account,
            amount=body["amount"],
            actor=request.user,
            idempotency_key=idempotency_key(request),
            reason=body["reason"],
        )
        return Response(
            {
                "interest_repaid": decimal_text(result.interest_repaid, "0.01"),
                "principal_repaid": decimal_text(result.principal_repaid, "0.01"),
                "total": decimal_text(result.total, "0.01"),
            },
            status=201,
        )


class BankCreditsApi(APIView):
    """The client omnibus bank account's credit lines: the bank feed (a machine role with a
    token) posts them as JSON, each booked once per line id; staff read the latest."""

    @extend_schema(responses={200: BankCreditOutSerializer(many=True)})
    def get(self, request):
        if not request.user.has_perm("lending.view_bankcredit"):
            raise PermissionDenied(
                "bank credits: your role does not allow this (lending.view_bankcredit)",
                extra={"permission": "lending.view_bankcredit"},
            )
        rows = BankCredit.objects.all()[:200]
        return Response([bank_credit_data(c) for c in rows])

    @extend_schema(request=BankCreditsInSerializer, responses={201: BankCreditsResultSerializer})
    def post(self, request):
        # the permission first (the service checks it again), then the lines
        require_permission(request.user, bank_credits.IMPORT_PERM, action="import bank credits")
        lines = request.data.get("lines") if hasattr(request.data, "get") else None
        if not isinstance(lines, list):
            raise ValidationFailed("lines: a list of credit lines", extra={"field": "lines"})
        parsed = bank_credits.credit_lines_parsed(lines)
        result = bank_credits.bank_credits_import(lines=parsed, source="api", actor=request.user)
        return Response(dataclasses.asdict(result), status=201)


class TransferInSerializer(serializers.Serializer):
    account_number = serializers.CharField(max_length=20)
    instrument = serializers.CharField(max_length=24)
    quantity = quantity_field(help_text="Whole shares")
    confirmation_reference = serializers.CharField(max_length=64)
    reason = serializers.CharField(max_length=300)


class TransferDecisionSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class TransferOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    confirmation_reference = serializers.CharField()
    credit_account = serializers.IntegerField()
    instrument = serializers.CharField()
    quantity = serializers.CharField()
    status = serializers.CharField()


def _transfer(t) -> dict:
    return {
        "id": t.pk,
        "confirmation_reference": t.confirmation_reference,
        "credit_account": t.credit_account_id,
        "instrument": t.instrument.ledger_unit,
        "quantity": decimal_text(t.quantity.normalize()),
        "status": t.status,
    }


class CollateralTransfersApi(APIView):
    """Prepare a collateral transfer in from the custodian's confirmation (operations)."""

    @extend_schema(request=TransferInSerializer, responses={201: TransferOutSerializer})
    def post(self, request):
        require_permission(request.user, transfers.PREPARE_PERM, action="prepare a transfer")
        body = validated(TransferInSerializer, request.data)
        transfer = transfers.collateral_transfer_prepare(
            credit_account=credit_selectors.credit_account_by_number(body["account_number"]),
            instrument=instruments_selectors.instrument_by_code(body["instrument"]),
            quantity=body["quantity"],
            confirmation_reference=body["confirmation_reference"],
            actor=request.user,
            reason=body["reason"],
        )
        return Response(_transfer(transfer), status=201)


class CollateralTransferDecisionApi(APIView):
    """Approve (book the shares) or reject a prepared transfer: a second person."""

    @extend_schema(request=TransferDecisionSerializer, responses={200: TransferOutSerializer})
    def post(self, request, pk: int):
        require_permission(request.user, transfers.APPROVE_PERM, action="decide a transfer")
        body = validated(TransferDecisionSerializer, request.data)
        transfer = CollateralTransferIn.objects.filter(pk=pk).first()
        if transfer is None:
            raise NotFound(f"transfer: no transfer #{pk}")
        transfer = transfers.collateral_transfer_decide(
            transfer=transfer, approve=body["approve"], actor=request.user, reason=body["reason"]
        )
        return Response(_transfer(transfer))


class ReturnReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Why the money goes back")


class BankCreditReturnApi(APIView):
    """Compliance returns an unmatched bank credit to its sender."""

    @extend_schema(request=ReturnReasonSerializer, responses={200: BankCreditOutSerializer})
    def post(self, request, pk: int):
        require_permission(request.user, bank_credits.RETURN_PERM, action="return a deposit")
        credit = BankCredit.objects.filter(pk=pk).first()
        if credit is None:
            raise NotFound(f"credit: no bank credit #{pk}")
        reason = request.data.get("reason", "") if hasattr(request.data, "get") else ""
        credit = bank_credits.bank_credit_return(
            credit=credit, actor=request.user, reason=reason if isinstance(reason, str) else ""
        )
        return Response(bank_credit_data(credit))
