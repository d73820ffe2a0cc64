"""Risk analytics API: start a stress test or Monte Carlo run (risk role; 403 otherwise),
list runs and read one with its results. Money and ratios are decimal strings; a run is
executed by a Celery task, so POST answers 202 with the pending run."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import ValidationFailed
from accounts.permissions import require_permission
from lending.risk import services as risk
from lending.risk.models import RiskRun, RiskRunKind

SUMMARY_FIELDS = (
    "id", "kind", "status", "currency", "seed", "reason", "started_by", "created_at",
    "started_at", "finished_at", "error", "accounts_valued", "total_shortfall", "var_95",
    "var_99", "es_95", "es_99", "expected_loss", "stressed_loss", "reserve_target",
    "reserve_balance", "reserve_adequacy", "target_adopted_at",
)  # fmt: skip


class RiskRunSerializer(serializers.ModelSerializer):
    # plain strings in the schema: "kind" and "status" enums of other areas share the names
    kind = serializers.CharField(read_only=True, help_text="stress or monte_carlo")
    status = serializers.CharField(
        read_only=True, help_text="pending, running, succeeded or failed"
    )
    started_by = serializers.CharField(source="started_by.email", read_only=True)

    class Meta:
        model = RiskRun
        fields = SUMMARY_FIELDS
        read_only_fields = fields


class RiskRunDetailSerializer(RiskRunSerializer):
    class Meta(RiskRunSerializer.Meta):
        fields = (*SUMMARY_FIELDS, "parameters", "results")
        read_only_fields = fields


class RiskRunStartSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="stress or monte_carlo (checked by the service)")
    reason = serializers.CharField(help_text="Why the run is started (kept with the run)")
    parameters = serializers.DictField(
        required=False, help_text="Overrides of the defaults (docs/risk.md); all are checked"
    )
    seed = serializers.IntegerField(
        required=False, min_value=0, help_text="Random seed; drawn and stored when omitted"
    )

    def validate_parameters(self, value):
        # stored as JSONB, which cannot hold U+0000 (the value checks are the service's)
        if _has_nul(value):
            raise serializers.ValidationError(
                _("text in the parameters must not contain NUL characters"),
                code="null_characters_not_allowed",
            )
        return value


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


KIND_PARAM = OpenApiParameter("kind", str, description="stress or monte_carlo")


class RiskRunListApi(ListAPIView):
    serializer_class = RiskRunSerializer
    filter_backends: list = []

    @extend_schema(parameters=[KIND_PARAM])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        kind = self.request.query_params.get("kind") or None
        if kind is not None and kind not in RiskRunKind.values:
            raise ValidationFailed("kind: stress or monte_carlo", extra={"field": "kind"})
        return risk.risk_runs_for(self.request.user, kind=kind)

    @extend_schema(
        request=RiskRunStartSerializer,
        responses={202: RiskRunDetailSerializer},
        examples=[
            OpenApiExample(
                "Monte Carlo, 10 days, 20,000 paths",
                request_only=True,
                value={
                    "kind": "monte_carlo",
                    "reason": "weekly reserve review",
                    "parameters": {"horizon_days": 10, "n_paths": 20000},
                    "seed": 42,
                },
            )
        ],
    )
    def post(self, request):
        body = RiskRunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        run = risk.risk_run_start(
            kind=data["kind"],
            parameters=data.get("parameters"),
            seed=data.get("seed"),
            reason=data["reason"],
            actor=request.user,
        )
        return Response(RiskRunDetailSerializer(run).data, status=202)


class RiskRunDetailApi(APIView):
    @extend_schema(responses=RiskRunDetailSerializer)
    def get(self, request, pk: int):
        return Response(RiskRunDetailSerializer(risk.risk_run_for(request.user, pk)).data)


class TargetAdoptSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why the proposed target is adopted")


class RiskRunTargetAdoptApi(APIView):
    """Adopt the reserve target a run proposes (treasury, or a risk officer who did not start
    the run; a token carrying the second factor)."""

    @extend_schema(request=TargetAdoptSerializer, responses={200: RiskRunDetailSerializer})
    def post(self, request, pk: int):
        # the permission first (the service checks it again), then the run and the reason
        require_permission(request.user, risk.ADOPT_PERM, action="adopt a reserve target")
        reason = request.data.get("reason", "") if hasattr(request.data, "get") else ""
        run = risk.risk_run_target_adopt(
            run=risk.risk_run_for(request.user, pk),
            actor=request.user,
            reason=reason if isinstance(reason, str) else "",
        )
        return Response(RiskRunDetailSerializer(run).data)
