from rest_framework import serializers

from accounts.api_fields import NON_NEGATIVE, money_field, ratio_field
from accounts.models import IdentityType, InvestorType

from .models import (
    AnswerOption,
    DisclosureAcknowledgement,
    DisclosureDocument,
    Question,
    Questionnaire,
    SuitabilityAssessment,
    SuitabilityMatch,
)


class AnswerOptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnswerOption
        fields = ["id", "order", "text", "score"]


class QuestionSerializer(serializers.ModelSerializer):
    options = AnswerOptionSerializer(many=True, read_only=True)

    class Meta:
        model = Question
        fields = ["id", "order", "text", "options"]


class QuestionnaireSerializer(serializers.ModelSerializer):
    questions = QuestionSerializer(many=True, read_only=True)

    class Meta:
        model = Questionnaire
        fields = ["id", "version", "title", "questions"]


class AssessmentSerializer(serializers.ModelSerializer):
    risk_class = serializers.SerializerMethodField()

    class Meta:
        model = SuitabilityAssessment
        fields = [
            "id",
            "questionnaire_version",
            "answers",
            "total_score",
            "risk_class",
            "is_lowest_category",
            "taken_at",
            "valid_until",
        ]
        read_only_fields = fields

    def get_risk_class(self, obj) -> str:
        return f"C{obj.risk_class}"


class AnswerSerializer(serializers.Serializer):
    question = serializers.IntegerField()
    option = serializers.IntegerField()


class AssessmentCreateSerializer(serializers.Serializer):
    answers = AnswerSerializer(many=True)


class MatchSerializer(serializers.ModelSerializer):
    product = serializers.CharField(source="product.code")

    class Meta:
        model = SuitabilityMatch
        fields = [
            "id",
            "product",
            "product_risk_level",
            "risk_class",
            "outcome",
            "warning_text",
            "confirmed_at",
        ]
        read_only_fields = fields


class SuitabilityActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["check", "confirm"])


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class StatusSerializer(serializers.Serializer):
    credit_blockers = ReasonSerializer(many=True)
    drawdown_blockers = ReasonSerializer(many=True)
    may_draw_down = serializers.BooleanField()


class DisclosureSerializer(serializers.ModelSerializer):
    class Meta:
        model = DisclosureDocument
        fields = ["id", "version", "title", "content", "sha256", "published_at"]
        read_only_fields = fields


class AcknowledgementSerializer(serializers.ModelSerializer):
    class Meta:
        model = DisclosureAcknowledgement
        fields = ["id", "document", "version", "sha256", "acknowledged_at"]
        read_only_fields = fields


class AcknowledgementCreateSerializer(serializers.Serializer):
    document = serializers.IntegerField()


class DailyFigureSerializer(serializers.Serializer):
    date = serializers.DateField()
    total_assets = money_field(sign=NON_NEGATIVE)


class DailyAssetsImportSerializer(serializers.Serializer):
    investor = serializers.IntegerField(help_text="investor profile id")
    figures = DailyFigureSerializer(many=True)


class IdentityVerifiedSerializer(serializers.Serializer):
    email = serializers.EmailField(help_text="The signed-up login")
    real_name = serializers.CharField(max_length=200)
    investor_type = serializers.ChoiceField(choices=InvestorType.choices, default="individual")
    id_type = serializers.ChoiceField(choices=IdentityType.choices)
    id_number = serializers.CharField(max_length=40)
    bank_name = serializers.CharField(max_length=100)
    bank_account = serializers.CharField(max_length=40)
    reason = serializers.CharField(max_length=300, help_text="How the identity was verified")


class ClassificationInSerializer(serializers.Serializer):
    financial_assets = money_field(sign=NON_NEGATIVE)
    average_income_3y = money_field(sign=NON_NEGATIVE, default=0)
    net_assets = money_field(sign=NON_NEGATIVE, default=0)
    experience_years = ratio_field(sign=NON_NEGATIVE)


class RefusalInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["sub_account", "third_party_authority"])
    details = serializers.CharField(max_length=400)


class RedFlagResolveInSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["cleared", "confirmed"])
    resolution = serializers.CharField(max_length=400)
