from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView

from .api_permissions import SecondFactorForStaffWrites
from .serializers import MeSerializer, TokenRequestSerializer, TokenResponseSerializer


class TokenView(APIView):
    """Exchange e-mail and password for an API token."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny, SecondFactorForStaffWrites]  # no user: a no-op

    @extend_schema(
        request=TokenRequestSerializer,
        responses=TokenResponseSerializer,
        operation_id="auth_token_create",
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _created = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


class MeView(APIView):
    """The signed-in user, their roles and (for investors) their masked profile."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)
