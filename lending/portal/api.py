"""Portal API: the investor's credit accounts with their full valuation and their history
(every movement from the custody ledger, lending.portal.history), the account's short positions
(融券) with the direct return (直接还券) of shares held, and the leverage simulator.

Short positions: investors read their own accounts (another's id answers 404), staff need
lending.view_shortposition (403). The direct return: the investor on their own account, or staff
with lending.change_shortposition on the investor's written instruction (the reason); the
permission is checked before the body (403 before 400), and it needs an Idempotency-Key (the
same key and body repeat the first answer, another body with it is a 409)."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_fields import NON_NEGATIVE, POSITIVE, money_field, ratio_field
from accounts.api_pagination import MAX_LIMIT, Pagination
from accounts.api_permissions import SecondFactorForStaffWrites
from accounts.errors import Conflict
from accounts.permissions import require_permission
from lending.common.api import IDEMPOTENCY, decimal_text, idempotency_key, validated
from lending.credit import selectors as credit_selectors
from lending.credit.permissions import require_owner_or_perm
from lending.financing import selectors as financing_selectors
from lending.financing import short_sales
from lending.financing.serializers import (
    financing_data,
)
from lending.financing.valuation import account_view
from lending.instruments import selectors as instruments_selectors
from lending.portal import history, simulator
from lending.portal import selectors as portal_selectors
from lending.portal.serializers import (
    CreditAccountOutSerializer,
    CreditAccountSummaryOutSerializer,
    HistoryPageOutSerializer,
    ShortBookOutSerializer,
    ShortReturnInSerializer,
    ShortReturnOutSerializer,
    account_summary_data,
    account_view_data,
    history_row_data,
    short_book_data,
)

SHORT_VIEW_PERM = "lending.view_shortposition"


class CreditAccountListApi(APIView):
    @extend_schema(
        responses=CreditAccountSummaryOutSerializer(many=True), operation_id="credit_accounts_list"
    )
    def get(self, request):
        return Response(
            [account_summary_data(a) for a in credit_selectors.credit_accounts_for(request.user)]
        )


class CreditAccountDetailApi(APIView):
    @extend_schema(responses=CreditAccountOutSerializer, operation_id="credit_accounts_retrieve")
    def get(self, request, pk: int):
        # 4 queries for an investor whatever the positions (tests/lending/test_account_api_cost
        # .py): the token; the account (their own only) with its margin state and contract;
        # account_view's inputs; the latest financings
        account, contract = portal_selectors.credit_account_and_contract_for(request.user, pk)
        view = account_view(account, contract=contract)
        data = account_view_data(view, state=portal_selectors.margin_state(account))
        data["financings"] = [
            financing_data(f) for f in financing_selectors.financings_listed(account, limit=100)
        ]
        return Response(data)


class CreditAccountHistoryApi(APIView):
    """Every movement on the credit account, newest first (docs/investor-history.md)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATE,
                description="First business date included (YYYY-MM-DD)",
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="Last business date included (YYYY-MM-DD)"
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"Rows per page, at most {MAX_LIMIT}.",
            ),
            OpenApiParameter("offset", OpenApiTypes.INT, description="Rows skipped."),
        ],
        responses=HistoryPageOutSerializer,
        operation_id="credit_accounts_history",
    )
    def get(self, request, pk: int):
        # the investor's own account only (another's: 404); staff with the view permissions
        account = portal_selectors.history_account_for(request.user, pk)
        period = history.period_parsed(
            request.query_params.get("from"), request.query_params.get("to")
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(history.History(account, period), request, view=self)
        return paginator.get_paginated_response([history_row_data(row) for row in page])


class ShortPositionsApi(APIView):
    """The account's short positions per instrument, the restricted proceeds, the lending fees
    owed and the short margin ratio in force."""

    @extend_schema(responses=ShortBookOutSerializer, operation_id="credit_accounts_short_positions")
    def get(self, request, pk: int):
        if getattr(request.user, "investor_profile", None) is None:
            require_permission(request.user, SHORT_VIEW_PERM, action="read short positions")
        account = credit_selectors.credit_account_for(request.user, pk)
        return Response(short_book_data(portal_selectors.short_book(account)))


def _same_return(result, account, instrument, quantity) -> bool:
    """Whether the return booked under the key is this request's (a repeated key)."""
    if result.quantity != quantity:
        return False
    legs = result.entry.postings.filter(account__purpose="client_securities").values_list(
        "account__investor_id", "account__unit"
    )
    return all(
        investor == account.investor_id and unit == instrument.ledger_unit
        for investor, unit in legs
    )


class ShortReturnApi(APIView):
    """Direct return (直接还券): shares of an instrument the account owes, from the investor's own
    shares (not financed, not offered by a working sale), close its positions oldest first;
    the restricted proceeds they no longer need are released and the lending fees paid."""

    @extend_schema(
        request=ShortReturnInSerializer,
        parameters=[IDEMPOTENCY],
        responses={201: ShortReturnOutSerializer},
        operation_id="credit_accounts_short_returns",
    )
    def post(self, request, pk: int):
        account = credit_selectors.credit_account_for(request.user, pk)
        # the permission first (the service checks it again), then the body
        require_owner_or_perm(
            request.user, account, short_sales.RETURN_PERM, action="return shares directly"
        )
        body = validated(ShortReturnInSerializer, request.data)
        key = idempotency_key(request)
        instrument = instruments_selectors.instrument_by_code(body["instrument"])
        result = short_sales.short_return_direct(
            credit_account=account,
            instrument=instrument,
            quantity=body["quantity"],
            actor=request.user,
            idempotency_key=key,
            reason=body["reason"],
        )
        if not _same_return(result, account, instrument, body["quantity"]):
            raise Conflict(
                _("Idempotency-Key: already used for another direct return"),
                extra={"field": "Idempotency-Key"},
            )
        return Response(
            {
                "entry": result.entry.pk,
                "instrument": instrument.ledger_unit,
                "quantity": decimal_text(result.quantity, "1"),
                "proceeds_released": decimal_text(result.proceeds_released, "0.01"),
                "fees_paid": decimal_text(result.fees_paid, "0.01"),
                "short_positions": short_book_data(portal_selectors.short_book(account)),
            },
            status=201,
        )


class LeverageInputSerializer(serializers.Serializer):
    """Shape only (decimal strings, finite, plain, bounded); the ranges are the simulator's
    rules (lending.domain.analytics.validate_simulator_inputs)."""

    own_capital = money_field(help_text="Own capital, > 0")
    leverage = ratio_field(sign=POSITIVE, help_text="Total assets / own capital, ≥ 1")
    asset_return = ratio_field(
        required=False, default="0", help_text="Asset return over the period, e.g. 0.10"
    )
    fee_rate = ratio_field(required=False, default="0", help_text="Fees as a fraction of assets")
    borrow_rate = ratio_field(
        required=False, default="0", help_text="Borrowing rate over the period"
    )
    price_drop = ratio_field(
        sign=NON_NEGATIVE, required=False, default="0", help_text="A price drop between 0 and 1"
    )


class LeverageOutputSerializer(serializers.Serializer):
    total_assets = serializers.CharField()
    borrowed = serializers.CharField()
    equity_return = serializers.CharField()
    equity_after_drop = serializers.CharField()
    wipeout_drop = serializers.CharField()
    wiped_out = serializers.BooleanField()


class LeverageSimulatorApi(APIView):
    """Investor education: what leverage does to equity (DOMAIN.md formulas). No login."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny, SecondFactorForStaffWrites]  # no user: a no-op

    @extend_schema(
        request=LeverageInputSerializer,
        responses=LeverageOutputSerializer,
        operation_id="simulator_leverage",
        examples=[
            OpenApiExample(
                "2× with a 20% drop",
                request_only=True,
                value={
                    "own_capital": "100000",
                    "leverage": "2",
                    "asset_return": "0.10",
                    "fee_rate": "0",
                    "borrow_rate": "0.06",
                    "price_drop": "0.20",
                },
            )
        ],
    )
    def post(self, request):
        body = LeverageInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = simulator.simulate(dict(body.validated_data))
        return Response(result.as_dict())
