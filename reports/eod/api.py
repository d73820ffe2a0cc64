"""End-of-day API: the runs with their steps (GET), start a date's run (POST), resume one.
No rules here: reports.eod.services decides and refuses."""

from collections.abc import Mapping

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .models import EndOfDayRun, EndOfDayStep


def _body(request) -> Mapping:
    """The request's JSON object (anything else reads as an empty one: the service then names
    the missing field)."""
    return request.data if isinstance(request.data, Mapping) else {}


class StepSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True)
    seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = EndOfDayStep
        fields = [
            "name",
            "label",
            "position",
            "status",
            "attempts",
            "shards_total",
            "shards_done",
            "params",
            "result",
            "started_at",
            "finished_at",
            "progress_at",
            "seconds",
            "error",
        ]


class RunSerializer(serializers.ModelSerializer):
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = EndOfDayRun
        fields = [
            "id",
            "business_date",
            "trading_day",
            "status",
            "step",
            "started_at",
            "finished_at",
            "resumes",
            "error",
            "steps",
        ]


class StartSerializer(serializers.Serializer):
    business_date = serializers.DateField()
    reason = serializers.CharField(max_length=500)


class ResumeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class RunListView(APIView):
    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request):
        runs = services.runs_for(request.user).prefetch_related("steps")[:60]
        return Response(RunSerializer(runs, many=True).data)

    @extend_schema(request=StartSerializer, responses={202: RunSerializer})
    def post(self, request):
        # the service checks the permission first, then the date (naming the field)
        data = _body(request)
        run = services.run_start(
            actor=request.user,
            business_date=str(data.get("business_date") or ""),
            reason=str(data.get("reason") or ""),
        )
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunDetailView(APIView):
    @extend_schema(responses=RunSerializer)
    def get(self, request, pk: int):
        return Response(RunSerializer(services.run_for(request.user, pk)).data)


class RunResumeView(APIView):
    @extend_schema(request=ResumeSerializer, responses={202: RunSerializer})
    def post(self, request, pk: int):
        # the service checks the permission first, then that the run exists
        run = services.run_resume(
            run=EndOfDayRun(pk=pk),
            actor=request.user,
            reason=str(_body(request).get("reason") or ""),
        )
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
