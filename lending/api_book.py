"""Book API: instruments, price ticks, credit accounts (valuation), drawdowns and withdrawals.
Investors see only their own accounts (another's id answers 404); writes need the right role
permission (403), checked by the services. Money-moving writes need an Idempotency-Key."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import ValidationFailed

from . import selectors_book as sel
from .serializers_book import (
    CreditAccountOutSerializer,
    CreditAccountSummaryOutSerializer,
    DrawdownInSerializer,
    FinancingOutSerializer,
    InstrumentFilterSerializer,
    InstrumentSerializer,
    PricesInSerializer,
    PricesOutSerializer,
    WithdrawalInSerializer,
    WithdrawalOutSerializer,
    account_summary_data,
    account_view_data,
    financing_data,
    withdrawal_data,
)
from .services import book
from .valuation import account_view

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=r"^\S(.{0,118}\S)?$",
    description="Up to 120 characters without leading or trailing blanks, unique per money "
    "movement; the same key and body repeat the first answer, another body with it is a 409",
)
IDEMPOTENCY_KEY_MAX = 120  # the service keeps 160 characters of "api:<user id>:<key>"


def _idempotency_key(request) -> str:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        raise ValidationFailed(
            "Idempotency-Key: this request moves money and needs an Idempotency-Key header",
            extra={"field": "Idempotency-Key"},
        )
    if len(key) > IDEMPOTENCY_KEY_MAX:  # longer keys would be cut, and two could then clash
        raise ValidationFailed(
            f"Idempotency-Key: at most {IDEMPOTENCY_KEY_MAX} characters",
            extra={"field": "Idempotency-Key", "rule": "too_long"},
        )
    # scoped per user so two users' keys never collide
    return f"api:{request.user.pk}:{key}"


def _parsed(serializer_class, data):
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


class InstrumentListApi(ListAPIView):
    serializer_class = InstrumentSerializer

    @extend_schema(parameters=[InstrumentFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = _parsed(InstrumentFilterSerializer, self.request.query_params)
        return sel.instruments(**filters)


class PricesApi(APIView):
    @extend_schema(request=PricesInSerializer, responses={200: PricesOutSerializer})
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {"ticks": request.data}
        body = _parsed(PricesInSerializer, data)
        accepted, ignored = book.prices_ingest(
            [dict(t) for t in body["ticks"]], source=body["source"], actor=request.user
        )
        return Response({"accepted": accepted, "ignored": ignored})


class CreditAccountListApi(APIView):
    @extend_schema(
        responses=CreditAccountSummaryOutSerializer(many=True), operation_id="credit_accounts_list"
    )
    def get(self, request):
        return Response([account_summary_data(a) for a in sel.credit_accounts_for(request.user)])


class CreditAccountDetailApi(APIView):
    @extend_schema(responses=CreditAccountOutSerializer, operation_id="credit_accounts_retrieve")
    def get(self, request, pk: int):
        # 4 queries for an investor whatever the positions (tests/lending/test_account_api_cost
        # .py): the token; the account (their own only) with its margin state and contract;
        # account_view's inputs; the latest financings
        account, contract = sel.credit_account_and_contract_for(request.user, pk)
        view = account_view(account, contract=contract)
        data = account_view_data(view, state=sel.margin_state(account))
        data["financings"] = [financing_data(f) for f in sel.financings_listed(account, limit=100)]
        return Response(data)


class DrawdownApi(APIView):
    @extend_schema(
        request=DrawdownInSerializer,
        parameters=[IDEMPOTENCY],
        responses={201: FinancingOutSerializer},
    )
    def post(self, request, pk: int):
        account = sel.credit_account_for(request.user, pk)
        body = _parsed(DrawdownInSerializer, request.data)
        financing = book.drawdown_execute(
            credit_account=account,
            instrument=sel.instrument_by_code(body["instrument"]),
            quantity=body["quantity"],
            price=body["price"],
            actor=request.user,
            idempotency_key=_idempotency_key(request),
            reason=body["reason"],
        )
        return Response(financing_data(financing), status=201)


class WithdrawalApi(APIView):
    @extend_schema(
        request=WithdrawalInSerializer,
        parameters=[IDEMPOTENCY],
        responses={201: WithdrawalOutSerializer},
    )
    def post(self, request, pk: int):
        account = sel.credit_account_for(request.user, pk)
        body = _parsed(WithdrawalInSerializer, request.data)
        key = _idempotency_key(request)
        if body["kind"] == "cash":
            if not body.get("amount"):
                raise ValidationFailed("amount: required", extra={"field": "amount"})
            request_ = book.cash_withdrawal_request(
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
            request_ = book.securities_withdrawal_request(
                credit_account=account,
                instrument=sel.instrument_by_code(body["instrument"]),
                quantity=body["quantity"],
                actor=request.user,
                idempotency_key=key,
                reason=body["reason"],
            )
        return Response(withdrawal_data(request_), status=201)
