"""Credit API: applications (the investor applies; staff prepare and decide) and contracts.
Investors see only their own objects; another investor's id answers 404."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import PermissionDenied
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
