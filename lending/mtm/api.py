"""Mark-to-market API: start a run (risk role; 403 otherwise) and follow its progress.

POST /api/v1/mtm-runs/          -> 202 {id, status, progress, ...}
GET  /api/v1/mtm-runs/          -> the latest runs
GET  /api/v1/mtm-runs/{id}/     -> status, progress, accounts, calls_issued, started_at, ...
GET  /api/v1/mtm-runs/{id}/accounts/{credit account id}/
                                -> what the run computed for that account (its snapshot
                                   figures: ratio, assets, liabilities, screened state, stored
                                   state before the run); 404 if the run did not value it
Reads need lending.view_mtmrun (staff roles); the start is checked by the service."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import NotFound
from accounts.permissions import require_permission
from lending.domain import margin
from lending.mtm import services as mtm
from lending.mtm import snapshots
from lending.mtm.book_arrays import STORED_STATES
from lending.mtm.models import MtmRun

VIEW_PERM = "lending.view_mtmrun"


class MtmRunSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    accounts = serializers.IntegerField(source="accounts_valued")

    class Meta:
        model = MtmRun
        fields = [
            "id",
            "kind",
            "status",
            "trigger",
            "prices_as_of",
            "shards_total",
            "shards_done",
            "progress",
            "accounts",
            "warnings",
            "calls_issued",
            "cures",
            "state_changes",
            "error",
            "deadline_problems",
            "problems",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_progress(self, run) -> float:
        return round(run.progress, 4)


class MtmAccountFiguresSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    credit_account = serializers.IntegerField()
    prices_as_of = serializers.DateTimeField()
    ratio = serializers.FloatField(allow_null=True, help_text="null: no debt")
    assets = serializers.FloatField()
    liabilities = serializers.FloatField()
    screened_state = serializers.CharField()
    stored_state_before = serializers.CharField()


class MtmRunStartSerializer(serializers.Serializer):
    shard_size = serializers.IntegerField(min_value=1, required=False)


class MtmRunListApi(APIView):
    @extend_schema(responses=MtmRunSerializer(many=True))
    def get(self, request):
        require_permission(request.user, VIEW_PERM, action="see mark-to-market runs")
        return Response(MtmRunSerializer(mtm.runs_recent(50), many=True).data)

    @extend_schema(request=MtmRunStartSerializer, responses={202: MtmRunSerializer})
    def post(self, request):
        body = MtmRunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = mtm.mtm_run_start(
            actor=request.user, trigger="api", shard_size=body.validated_data.get("shard_size")
        )
        return Response(MtmRunSerializer(run).data, status=202)


class MtmRunDetailApi(APIView):
    @extend_schema(responses=MtmRunSerializer)
    def get(self, request, pk: int):
        require_permission(request.user, VIEW_PERM, action="see mark-to-market runs")
        return Response(MtmRunSerializer(mtm.run_for(pk)).data)


class MtmRunAccountApi(APIView):
    @extend_schema(responses=MtmAccountFiguresSerializer)
    def get(self, request, pk: int, account: int):
        require_permission(request.user, VIEW_PERM, action="see mark-to-market runs")
        run = mtm.run_for(pk)
        figures = snapshots.account_figures(run.pk, account)
        if figures is None:
            raise NotFound(f"mark-to-market run {run.pk} did not value credit account {account}")
        return Response(
            MtmAccountFiguresSerializer(
                {
                    "run": run.pk,
                    "credit_account": account,
                    "prices_as_of": run.prices_as_of,
                    "ratio": figures.ratio,
                    "assets": figures.assets,
                    "liabilities": figures.liabilities,
                    "screened_state": margin.STATE_BY_CODE[figures.state].value,
                    "stored_state_before": STORED_STATES[figures.stored_state],
                }
            ).data
        )
