"""Financing API: withdrawals and direct repayments on a credit account (purchases and sales
are orders, in lending.orders). Investors act only on their own accounts (another's id answers
404); writes need the right role permission (403), checked by the services. Money-moving
writes need an Idempotency-Key."""

import dataclasses

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_fields import price_field, quantity_field
from accounts.errors import NotFound, PermissionDenied, ValidationFailed
from accounts.permissions import require_permission
from lending.common.api import IDEMPOTENCY, decimal_text, idempotency_key, validated
from lending.credit import selectors as credit_selectors
from lending.financing import bank_credits, corporate_actions, maturity, rights, transfers
from lending.financing import services as financing_services
from lending.financing.models import (
    BankCredit,
    CollateralTransferIn,
    CorporateAction,
    CorporateActionKind,
    FinancingExtension,
)
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
                raise ValidationFailed(_("amount: required"), extra={"field": "amount"})
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
                    _("instrument, quantity: required"), extra={"field": "quantity"}
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
                _("bank credits: your role does not allow this (%(permission)s)")
                % {"permission": "lending.view_bankcredit"},
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
            raise ValidationFailed(_("lines: a list of credit lines"), extra={"field": "lines"})
        parsed = bank_credits.credit_lines_parsed(lines)
        result = bank_credits.bank_credits_import(lines=parsed, source="api", actor=request.user)
        return Response(dataclasses.asdict(result), status=201)


class TransferInSerializer(serializers.Serializer):
    account_number = serializers.CharField(max_length=20)
    instrument = serializers.CharField(max_length=24)
    quantity = quantity_field(help_text="Whole shares")
    confirmation_reference = serializers.CharField(max_length=64)
    reason = serializers.CharField(max_length=300)
    restricted_shares = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The custodian confirms restricted (lock-up) shares: refused, never collateral",
    )


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
            restricted_shares=body["restricted_shares"],
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
            raise NotFound(_("transfer: no transfer #%(pk)s") % {"pk": pk})
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
            raise NotFound(_("credit: no bank credit #%(pk)s") % {"pk": pk})
        reason = request.data.get("reason", "") if hasattr(request.data, "get") else ""
        credit = bank_credits.bank_credit_return(
            credit=credit, actor=request.user, reason=reason if isinstance(reason, str) else ""
        )
        return Response(bank_credit_data(credit))


# --- corporate actions (lending.financing.corporate_actions) -----------------------------------


class CorporateActionInSerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=24, help_text="e.g. SSE:600519")
    kind = serializers.ChoiceField(choices=CorporateActionKind.choices)
    record_date = serializers.DateField()
    ex_date = serializers.DateField()
    pay_date = serializers.DateField(required=False, allow_null=True, default=None)
    cash_per_share = price_field(
        required=False, allow_null=True, default=None, help_text="Yuan per share (dividends)"
    )
    ratio = price_field(
        required=False,
        allow_null=True,
        default=None,
        help_text="New shares per share (bonus, split, rights): 10-for-10 is 1",
    )
    rights_price = price_field(required=False, allow_null=True, default=None)
    subscription_end = serializers.DateField(required=False, allow_null=True, default=None)
    source_reference = serializers.CharField(max_length=200)
    reason = serializers.CharField(max_length=300)


class CorporateActionEntitlementOutSerializer(serializers.Serializer):
    investor = serializers.IntegerField()
    credit_account = serializers.IntegerField(allow_null=True)
    quantity_held = serializers.CharField()
    cash_amount = serializers.CharField()
    new_shares = serializers.CharField()
    rights_quantity = serializers.CharField()
    financings_adjusted = serializers.IntegerField()
    ex_entry = serializers.IntegerField(allow_null=True)
    pay_entry = serializers.IntegerField(allow_null=True)


class CorporateActionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    instrument = serializers.CharField()
    kind = serializers.CharField()
    record_date = serializers.DateField()
    ex_date = serializers.DateField()
    pay_date = serializers.DateField(allow_null=True)
    cash_per_share = serializers.CharField(allow_null=True)
    ratio = serializers.CharField(allow_null=True)
    rights_price = serializers.CharField(allow_null=True)
    subscription_end = serializers.DateField(allow_null=True)
    source_reference = serializers.CharField()
    status = serializers.CharField()
    reference_price = serializers.CharField(allow_null=True)
    import_file_name = serializers.CharField()
    import_sha256 = serializers.CharField()
    allotment_outcome = serializers.CharField(help_text="Rights: allotted or failed, once settled")
    allotment_reference = serializers.CharField(help_text="Rights: the custodian's confirmation")
    entitlements = CorporateActionEntitlementOutSerializer(many=True, required=False)


class CorporateActionImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, header " + ",".join(corporate_actions.COLUMNS))
    reason = serializers.CharField(max_length=300)


def _text(value) -> str | None:
    return None if value is None else decimal_text(value.normalize())


def _corporate_action(a, *, entitlements: bool = False) -> dict:
    data = {
        "id": a.pk,
        "instrument": a.instrument.ledger_unit,
        "kind": a.kind,
        "record_date": a.record_date,
        "ex_date": a.ex_date,
        "pay_date": a.pay_date,
        "cash_per_share": _text(a.cash_per_share),
        "ratio": _text(a.ratio),
        "rights_price": _text(a.rights_price),
        "subscription_end": a.subscription_end,
        "source_reference": a.source_reference,
        "status": a.status,
        "reference_price": _text(a.reference_price),
        "import_file_name": a.import_file_name,
        "import_sha256": a.import_sha256,
        "allotment_outcome": a.allotment_outcome,
        "allotment_reference": a.allotment_reference,
    }
    if entitlements:
        data["entitlements"] = [
            {
                "investor": e.investor_id,
                "credit_account": e.credit_account_id,
                "quantity_held": _text(e.quantity_held),
                "cash_amount": decimal_text(e.cash_amount),
                "new_shares": _text(e.new_shares),
                "rights_quantity": _text(e.rights_quantity),
                "financings_adjusted": e.financings_adjusted,
                "ex_entry": e.ex_entry_id,
                "pay_entry": e.pay_entry_id,
            }
            for e in a.entitlements.order_by("investor_id")
        ]
    return data


class CorporateActionsApi(APIView):
    """Corporate actions: list (staff), record one (operations)."""

    @extend_schema(responses={200: CorporateActionOutSerializer(many=True)})
    def get(self, request):
        require_permission(
            request.user, "lending.view_corporateaction", action="list corporate actions"
        )
        actions = CorporateAction.objects.select_related("instrument")[:500]
        return Response([_corporate_action(a) for a in actions])

    @extend_schema(
        request=CorporateActionInSerializer, responses={201: CorporateActionOutSerializer}
    )
    def post(self, request):
        require_permission(
            request.user, corporate_actions.ADD_PERM, action="record a corporate action"
        )
        body = validated(CorporateActionInSerializer, request.data)
        reason = body.pop("reason")
        action = corporate_actions.corporate_action_create(
            actor=request.user, reason=reason, **body
        )
        return Response(_corporate_action(action), status=201)


class CorporateActionApi(APIView):
    """One corporate action with its entitlements (staff)."""

    @extend_schema(responses={200: CorporateActionOutSerializer})
    def get(self, request, pk: int):
        require_permission(
            request.user, "lending.view_corporateaction", action="read a corporate action"
        )
        action = CorporateAction.objects.select_related("instrument").filter(pk=pk).first()
        if action is None:
            raise NotFound(_("corporate_action: no corporate action #%(pk)s") % {"pk": pk})
        return Response(_corporate_action(action, entitlements=True))


class CorporateActionsImportApi(APIView):
    """Import a CSV file of corporate actions (operations): all lines or none; a refusal
    lists every bad line in extra.errors ({line, field, message})."""

    @extend_schema(
        request={"multipart/form-data": CorporateActionImportSerializer},
        responses={201: CorporateActionOutSerializer(many=True)},
    )
    def post(self, request):
        require_permission(
            request.user, corporate_actions.ADD_PERM, action="import corporate actions"
        )
        body = validated(CorporateActionImportSerializer, request.data)
        upload = body["file"]
        result = corporate_actions.corporate_actions_import_csv(
            content=upload.read(), file_name=upload.name, actor=request.user, reason=body["reason"]
        )
        return Response([_corporate_action(a) for a in result.created], status=201)


# --- maturity and extensions (lending.financing.maturity) --------------------------------------


class ExtensionRequestSerializer(serializers.Serializer):
    months = serializers.IntegerField(help_text="Months from the due date (1 to the dated maximum)")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ExtensionPrepareSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, help_text="What the checker verified")


class ExtensionDecisionSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    reason = serializers.CharField(max_length=300)


class ExtensionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    financing = serializers.IntegerField()
    credit_account = serializers.IntegerField()
    months = serializers.IntegerField()
    old_due_on = serializers.DateField()
    new_due_on = serializers.DateField()
    status = serializers.CharField()
    requested_on = serializers.DateField()
    prepared_by = serializers.CharField(allow_null=True)
    decided_by = serializers.CharField(allow_null=True)
    decision_reason = serializers.CharField()
    qualification = serializers.DictField()


def _extension(e: FinancingExtension) -> dict:
    return {
        "id": e.pk,
        "financing": e.financing_id,
        "credit_account": e.credit_account_id,
        "months": e.months,
        "old_due_on": e.old_due_on,
        "new_due_on": e.new_due_on,
        "status": e.status,
        "requested_on": e.requested_on,
        "prepared_by": e.prepared_by.email if e.prepared_by_id else None,
        "decided_by": e.decided_by.email if e.decided_by_id else None,
        "decision_reason": e.decision_reason,
        "qualification": e.qualification,
    }


def _extension_for(user, pk: int) -> FinancingExtension:
    found = maturity.extensions_for(user).filter(pk=pk).first()
    if found is None:
        raise NotFound(_("extension: no extension #%(pk)s") % {"pk": pk})
    return found


class FinancingExtensionsApi(APIView):
    """One financing's extensions (展期): its history (GET) and a new request (POST), by the
    investor on their own financing (another's answers 404) or staff on the investor's written
    instruction (its reference in `reason`)."""

    @extend_schema(responses={200: ExtensionOutSerializer(many=True)})
    def get(self, request, pk: int):
        financing = maturity.financing_for(request.user, pk)
        rows = maturity.extensions_for(request.user).filter(financing=financing)
        return Response([_extension(e) for e in rows])

    @extend_schema(request=ExtensionRequestSerializer, responses={201: ExtensionOutSerializer})
    def post(self, request, pk: int):
        financing = maturity.financing_for(request.user, pk)
        body = validated(ExtensionRequestSerializer, request.data)
        extension = maturity.financing_extension_request(
            financing=financing, months=body["months"], actor=request.user, reason=body["reason"]
        )
        return Response(_extension(extension), status=201)


class FinancingExtensionListApi(APIView):
    """Extension requests the user may see (staff: all; an investor: their own), newest first;
    `?status=requested|prepared|approved|rejected` narrows them."""

    @extend_schema(responses={200: ExtensionOutSerializer(many=True)})
    def get(self, request):
        rows = maturity.extensions_for(request.user)
        status = request.query_params.get("status")
        if status:
            rows = rows.filter(status=status)
        return Response([_extension(e) for e in rows[:500]])


class FinancingExtensionPrepareApi(APIView):
    """Operations check a request and send it for approval (the maker's step)."""

    @extend_schema(request=ExtensionPrepareSerializer, responses={200: ExtensionOutSerializer})
    def post(self, request, pk: int):
        require_permission(request.user, maturity.PREPARE_PERM, action="check an extension")
        body = validated(ExtensionPrepareSerializer, request.data)
        extension = maturity.financing_extension_prepare(
            extension=_extension_for(request.user, pk), actor=request.user, note=body["note"]
        )
        return Response(_extension(extension))


class FinancingExtensionDecisionApi(APIView):
    """A second person approves (the due date moves) or rejects a checked request."""

    @extend_schema(request=ExtensionDecisionSerializer, responses={200: ExtensionOutSerializer})
    def post(self, request, pk: int):
        require_permission(request.user, maturity.APPROVE_PERM, action="decide an extension")
        body = validated(ExtensionDecisionSerializer, request.data)
        extension = _extension_for(request.user, pk)
        decide = (
            maturity.financing_extension_approve
            if body["approve"]
            else maturity.financing_extension_reject
        )
        extension = decide(extension=extension, actor=request.user, reason=body["reason"])
        return Response(_extension(extension))


# --- rights subscriptions (lending.financing.rights) -------------------------------------------


class RightsSubscribeSerializer(serializers.Serializer):
    entitlement = serializers.IntegerField(help_text="The rights entitlement's id")
    quantity = quantity_field(help_text="Rights shares to subscribe (whole shares)")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class RightsSubscriptionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    entitlement = serializers.IntegerField()
    corporate_action = serializers.IntegerField()
    instrument = serializers.CharField()
    credit_account = serializers.IntegerField()
    quantity = serializers.CharField()
    price = serializers.CharField()
    amount = serializers.CharField()
    status = serializers.CharField()
    subscription_end = serializers.DateField()
    entry = serializers.IntegerField()
    cancel_entry = serializers.IntegerField(allow_null=True)
    settle_entry = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class RightsCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class RightsSettleSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["allotted", "failed"])
    custodian_reference = serializers.CharField(max_length=64)
    reason = serializers.CharField(max_length=300)


def _subscription(s) -> dict:
    action = s.entitlement.corporate_action
    return {
        "id": s.pk,
        "entitlement": s.entitlement_id,
        "corporate_action": action.pk,
        "instrument": action.instrument.ledger_unit,
        "credit_account": s.credit_account_id,
        "quantity": _text(s.quantity),
        "price": _text(s.price),
        "amount": decimal_text(s.amount, "0.01"),
        "status": s.status,
        "subscription_end": action.subscription_end,
        "entry": s.entry_id,
        "cancel_entry": s.cancel_entry_id,
        "settle_entry": s.settle_entry_id,
        "created_at": s.created_at,
    }


class RightsSubscriptionsApi(APIView):
    """Rights subscriptions (配股认购): the user's (an investor's own; staff: all), newest first;
    POST subscribes with own money (the investor on their own entitlement, or operations on the
    investor's written instruction, its reference in `reason`); needs an Idempotency-Key."""

    @extend_schema(responses={200: RightsSubscriptionOutSerializer(many=True)})
    def get(self, request):
        rows = rights.subscriptions_for(request.user)
        return Response([_subscription(s) for s in rows[:500]])

    @extend_schema(
        request=RightsSubscribeSerializer,
        parameters=[IDEMPOTENCY],
        responses={201: RightsSubscriptionOutSerializer},
    )
    def post(self, request):
        rights.require_may_act(request.user, rights.SUBSCRIBE_PERM, action="subscribe rights")
        body = validated(RightsSubscribeSerializer, request.data)
        subscription = rights.rights_subscribe(
            entitlement=rights.entitlement_for(request.user, body["entitlement"]),
            quantity=body["quantity"],
            actor=request.user,
            idempotency_key=idempotency_key(request),
            reason=body["reason"],
        )
        return Response(_subscription(subscription), status=201)


class RightsSubscriptionCancelApi(APIView):
    """Withdraw a paid subscription before the subscription ends: the money comes back."""

    @extend_schema(request=RightsCancelSerializer, responses={200: RightsSubscriptionOutSerializer})
    def post(self, request, pk: int):
        rights.require_may_act(request.user, rights.CANCEL_PERM, action="cancel a subscription")
        body = validated(RightsCancelSerializer, request.data)
        subscription = rights.rights_subscription_cancel(
            subscription=rights.subscription_for(request.user, pk),
            actor=request.user,
            reason=body["reason"],
        )
        return Response(_subscription(subscription))


class CorporateActionSettlementApi(APIView):
    """Operations record the custodian's outcome of a rights issue after its subscription
    period: the subscribed shares booked (allotted) or the money refunded (failed)."""

    @extend_schema(request=RightsSettleSerializer, responses={200: CorporateActionOutSerializer})
    def post(self, request, pk: int):
        require_permission(request.user, rights.SETTLE_PERM, action="settle a rights issue")
        body = validated(RightsSettleSerializer, request.data)
        action = CorporateAction.objects.select_related("instrument").filter(pk=pk).first()
        if action is None:
            raise NotFound(_("corporate_action: no corporate action #%(pk)s") % {"pk": pk})
        action = rights.rights_settle(action=action, actor=request.user, **body)
        return Response(_corporate_action(action, entitlements=True))
