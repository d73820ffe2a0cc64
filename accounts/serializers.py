from django.contrib.auth import authenticate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .models import ApiToken, InvestorProfile, User


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(
        style={"input_type": "password"}, trim_whitespace=False, write_only=True
    )
    name = serializers.CharField(
        max_length=80, help_text=_("The device the token is for, e.g. 'risk laptop'.")
    )
    otp_code = serializers.RegexField(
        r"^[0-9]{6,8}$",
        required=False,
        allow_blank=True,
        write_only=True,
        help_text=_(
            "Desk staff: a current authenticator code, so the token may write for a short time."
        ),
    )

    def validate(self, attrs):
        request = self.context["request"]
        # the Django request under DRF's wrapper, so sign-in throttling (django-axes) sees it
        user = authenticate(
            getattr(request, "_request", request),
            username=attrs["email"],
            password=attrs["password"],
        )
        if user is None:
            raise serializers.ValidationError(
                {"password": [_("E-mail and password do not match an active user.")]}
            )
        attrs["user"] = user
        return attrs


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token as its owner and security staff see it: never the token, only its first
    characters (`prefix`) to tell tokens apart."""

    user = serializers.EmailField(source="user.email", read_only=True)
    prefix = serializers.CharField(source="token_key", read_only=True)
    revoked_by = serializers.EmailField(
        source="revoked_by.email", read_only=True, allow_null=True, default=None
    )
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id", "name", "user", "prefix", "created", "expiry", "last_used_at",
            "verified_until", "revoked_at", "revoked_by", "status",
        ]  # fmt: skip
        read_only_fields = fields

    def get_status(self, token: ApiToken) -> str:
        return token.status_at(timezone.now())


class TokenResponseSerializer(ApiTokenSerializer):
    """The answer to issuing: the token itself, shown this once (only its digest is kept)."""

    token = serializers.CharField(read_only=True)

    class Meta(ApiTokenSerializer.Meta):
        fields = ["token", *ApiTokenSerializer.Meta.fields]
        read_only_fields = fields


class InvestorProfileSerializer(serializers.ModelSerializer):
    """Identity and bank numbers leave the API only masked."""

    id_number = serializers.CharField(source="id_number_masked", read_only=True)
    bank_account = serializers.CharField(source="bank_account_masked", read_only=True)

    class Meta:
        model = InvestorProfile
        fields = [
            "investor_type",
            "real_name",
            "id_type",
            "id_number",
            "phone",
            "address",
            "bank_name",
            "bank_account",
            "category",
        ]
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer):
    roles = serializers.ListField(child=serializers.CharField(), source="role_names")
    investor_profile = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "is_staff", "roles", "investor_profile"]

    def get_investor_profile(self, user: User) -> dict | None:
        profile = getattr(user, "investor_profile", None)
        return InvestorProfileSerializer(profile).data if profile else None
