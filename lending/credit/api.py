"""Credit API: applications (the investor applies; staff prepare and decide) and contracts.
Investors see only their own objects; another investor's id answers 404."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.fields import CharField
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_permissions import SecondFactorForStaffWrites, writes_need
from accounts.errors import NotFound, PermissionDenied
from compliance.models import HeldDeposit
from lending.common.api import validated
from lending.credit import selectors
from lending.credit import services as credit
from lending.credit.serializers import (
    CreditApplicationCreateSerializer,
    CreditApplicationSerializer,
    CreditContractSerializer,
    DecisionSerializer,
    PrepareSerializer,
    RenewalSerializer,
)


def _investor(request):
    profile = getattr(request.user, "investor_profile", None)
    if profile is None:
        raise PermissionDenied("user: only investors apply for credit", code="investor_only")
    return profile


class ApplicationListApi(ListAPIView):
    serializer_class = CreditApplicationSerializer

    def get_queryset(self):
        return selectors.applications_for(self.request.user)

    @extend_schema(
        request=CreditApplicationCreateSerializer, responses={201: CreditApplicationSerializer}
    )
    def post(self, request):
        investor = _investor(request)
        data = validated(CreditApplicationCreateSerializer, request.data)
        application = credit.credit_application_submit(
            investor=investor, actor=request.user, **data
        )
        return Response(CreditApplicationSerializer(application).data, status=201)


class ApplicationDetailApi(APIView):
    @extend_schema(responses=CreditApplicationSerializer)
    def get(self, request, pk: int):
        application = selectors.application_for(request.user, pk)
        return Response(CreditApplicationSerializer(application).data)


class ApplicationPrepareApi(APIView):
    @extend_schema(request=PrepareSerializer, responses=CreditApplicationSerializer)
    def post(self, request, pk: int):
        application = selectors.application_for(request.user, pk)
        data = validated(PrepareSerializer, request.data)
        application = credit.credit_application_prepare(
            application=application, actor=request.user, **data
        )
        return Response(CreditApplicationSerializer(application).data)


class ApplicationApproveApi(APIView):
    @extend_schema(request=DecisionSerializer, responses=CreditContractSerializer)
    def post(self, request, pk: int):
        application = selectors.application_for(request.user, pk)
        data = validated(DecisionSerializer, request.data)
        contract = credit.credit_application_approve(
            application=application, actor=request.user, reason=data["reason"]
        )
        return Response(CreditContractSerializer(contract).data)


class ApplicationRejectApi(APIView):
    @extend_schema(request=DecisionSerializer, responses=CreditApplicationSerializer)
    def post(self, request, pk: int):
        application = selectors.application_for(request.user, pk)
        data = validated(DecisionSerializer, request.data)
        application = credit.credit_application_reject(
            application=application, actor=request.user, reason=data["reason"]
        )
        return Response(CreditApplicationSerializer(application).data)


class ContractListApi(ListAPIView):
    serializer_class = CreditContractSerializer

    def get_queryset(self):
        return selectors.contracts_for(self.request.user)


class ContractDetailApi(APIView):
    @extend_schema(responses=CreditContractSerializer)
    def get(self, request, pk: int):
        return Response(CreditContractSerializer(selectors.contract_for(request.user, pk)).data)


class ContractRenewApi(APIView):
    @extend_schema(request=RenewalSerializer, responses={201: CreditApplicationSerializer})
    def post(self, request, pk: int):
        _investor(request)
        contract = selectors.contract_for(request.user, pk)
        data = validated(RenewalSerializer, request.data)
        application = credit.credit_renewal_apply(
            contract=contract,
            requested_term_months=data["requested_term_months"],
            actor=request.user,
        )
        return Response(CreditApplicationSerializer(application).data, status=201)


class HeldDepositDecisionSerializer(serializers.Serializer):
    release = serializers.BooleanField(help_text="true: credit it; false: return it to the sender")
    reason = serializers.CharField(max_length=400)


class HeldDepositDecisionApi(APIView):
    """Compliance releases (credits) or returns a deposit held because it did not come from
    the bank account of record."""

    permission_classes = [
        permissions.IsAuthenticated,
        writes_need("compliance.change_helddeposit"),
        SecondFactorForStaffWrites,
    ]

    @extend_schema(
        request=HeldDepositDecisionSerializer,
        responses={200: inline_serializer("HeldDepositDecided", {"status": CharField()})},
    )
    def post(self, request, pk: int):
        body = validated(HeldDepositDecisionSerializer, request.data)
        deposit = HeldDeposit.objects.filter(pk=pk).first()
        if deposit is None:
            raise NotFound(f"deposit: no held deposit #{pk}")
        if body["release"]:
            credit.held_deposit_release(deposit=deposit, reason=body["reason"], actor=request.user)
        else:
            credit.held_deposit_return(deposit=deposit, reason=body["reason"], actor=request.user)
        deposit.refresh_from_db()
        return Response({"status": deposit.status})
