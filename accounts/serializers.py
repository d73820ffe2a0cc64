from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .models import InvestorProfile, User


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(
        style={"input_type": "password"}, trim_whitespace=False, write_only=True
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


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


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
