from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .api_permissions import SecondFactorForStaffWrites
from .errors import PermissionDenied
from .models import ApiToken
from .serializers import (
    ApiTokenSerializer,
    MeSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
)


class TokenListView(APIView):
    """POST: exchange e-mail, password, the device's name and (desk staff) a current
    authenticator code for a new API token, shown once. GET: the caller's tokens (security
    staff: `?all=true`, everyone's), never the token itself."""

    permission_classes = [permissions.IsAuthenticated, SecondFactorForStaffWrites]

    def _issuing(self) -> bool:
        request = getattr(self, "request", None)
        return request is not None and request.method == "POST"

    def initialize_request(self, request, *args, **kwargs):
        self.request = request  # the method decides the authentication (get_authenticators)
        return super().initialize_request(request, *args, **kwargs)

    def get_authenticators(self):
        # issuing takes the credentials in the body: no session (and its CSRF), no token
        return [] if self._issuing() else super().get_authenticators()

    def get_permissions(self):
        if self._issuing():  # SecondFactorForStaffWrites is a no-op for the anonymous caller
            return [permissions.AllowAny(), SecondFactorForStaffWrites()]
        return super().get_permissions()

    @extend_schema(
        request=TokenRequestSerializer,
        responses={201: TokenResponseSerializer},
        operation_id="auth_tokens_create",
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        row, token = services.api_token_issue(
            user=user,
            name=serializer.validated_data["name"],
            otp_code=serializer.validated_data.get("otp_code", ""),
            actor=user,  # the password (and the code) proved who asks
        )
        row.token = token
        return Response(TokenResponseSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "all",
                OpenApiTypes.BOOL,
                description="Every user's tokens (needs accounts.view_apitoken)",
            )
        ],
        responses=ApiTokenSerializer(many=True),
        operation_id="auth_tokens_list",
    )
    def get(self, request):
        everyone = request.query_params.get("all", "").lower() in ("1", "true", "yes")
        tokens = selectors.api_tokens_visible(viewer=request.user, everyone=everyone)
        return Response(ApiTokenSerializer(tokens[:500], many=True).data)


class TokenDetailView(APIView):
    """DELETE: revoke a token, refused from then on. Your own, or (security staff, with
    accounts.revoke_any_token) anyone's."""

    @extend_schema(request=None, responses={204: None}, operation_id="auth_tokens_revoke")
    def delete(self, request, pk: int):
        own = ApiToken.objects.filter(pk=pk, user=request.user).first()
        if own is None and not request.user.has_perm("accounts.revoke_any_token"):
            # the same answer whether or not the token exists
            raise PermissionDenied(
                _("%(action)s: your role does not allow this (%(perm)s is needed)")
                % {
                    "action": "revoke another user's API token",
                    "perm": "accounts.revoke_any_token",
                },
                code="permission_denied",
                extra={"permission": "accounts.revoke_any_token"},
            )
        token = own or get_object_or_404(ApiToken, pk=pk)
        services.api_token_revoke(token=token, actor=request.user, reason="API")
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The signed-in user, their roles and (for investors) their masked profile."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)
