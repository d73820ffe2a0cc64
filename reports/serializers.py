from django.urls import reverse
from rest_framework import serializers

from .kinds import KINDS
from .models import ClientStatement, Filing, StatementRun

FORMATS = ("pdf", "json", "csv")


class FilingSerializer(serializers.ModelSerializer):
    kind_title = serializers.SerializerMethodField()
    prepared_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    approved_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    submitted_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    replaced_by = serializers.SerializerMethodField()
    downloads = serializers.SerializerMethodField()

    class Meta:
        model = Filing
        fields = [
            "id",
            "kind",
            "kind_title",
            "as_of",
            "version",
            "replaces",
            "replaced_by",
            "language",
            "status",
            "progress",
            "progress_note",
            "error",
            "data_sha256",
            "pdf_sha256",
            "json_sha256",
            "csv_sha256",
            "requested_at",
            "prepared_by",
            "generated_at",
            "approved_by",
            "approved_at",
            "submitted_by",
            "submitted_at",
            "submission_reference",
            "downloads",
        ]
        read_only_fields = fields

    def get_kind_title(self, obj: Filing) -> str:
        kind = KINDS.get(obj.kind)
        return str(kind.title) if kind else obj.kind

    def get_replaced_by(self, obj: Filing) -> int | None:
        replacement = getattr(obj, "replaced_by", None)
        return replacement.pk if replacement else None

    def get_downloads(self, obj: Filing) -> dict[str, str]:
        if not obj.data_sha256:
            return {}
        request = self.context.get("request")
        urls = {}
        for fmt in FORMATS:
            url = reverse("v1:reports-filing-download", kwargs={"pk": obj.pk, "fmt": fmt})
            urls[fmt] = request.build_absolute_uri(url) if request else url
        return urls


class FilingFilterSerializer(serializers.Serializer):
    """?kind= and ?status= of the filing list (text as typed; NUL bytes refused, which
    PostgreSQL cannot compare)."""

    kind = serializers.CharField(required=False, allow_blank=True, max_length=40)
    status = serializers.CharField(required=False, allow_blank=True, max_length=20)


class FilingRequestSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=40)
    as_of = serializers.DateTimeField()
    language = serializers.CharField(max_length=10, required=False)
    reason = serializers.CharField(max_length=500, required=False, default="requested via API")


class FilingActionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    submission_reference = serializers.CharField(max_length=120, required=False, default="")


class FilingKindSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    available = serializers.BooleanField()
    daily = serializers.BooleanField()
    pending = serializers.CharField()


class StatementRunSerializer(serializers.ModelSerializer):
    """A month's statement run; `ready`, `failed`, `queued` are its counters (updated per
    chunk, exact once it has finished); `percent` of the accounts done (ready or failed)."""

    month = serializers.SerializerMethodField()
    percent = serializers.IntegerField(read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = StatementRun
        fields = [
            "id",
            "month",
            "period_start",
            "period_end",
            "as_of",
            "status",
            "accounts",
            "ready",
            "failed",
            "queued",
            "percent",
            "chunk_size",
            "requested_by",
            "requested_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_month(self, obj: StatementRun) -> str:
        return f"{obj.period_start:%Y-%m}"


class StatementRunFailedSerializer(serializers.ModelSerializer):
    investor_name = serializers.CharField(source="investor.real_name", read_only=True)

    class Meta:
        model = ClientStatement
        fields = ["id", "investor", "investor_name", "error"]
        read_only_fields = fields


class StatementRunDetailSerializer(StatementRunSerializer):
    """The run with its statements counted by status now, and its failed statements (the
    first FAILED_SHOWN) with their error."""

    FAILED_SHOWN = 200
    counts = serializers.SerializerMethodField()
    failed_statements = serializers.SerializerMethodField()

    class Meta(StatementRunSerializer.Meta):
        fields = [*StatementRunSerializer.Meta.fields, "counts", "failed_statements"]
        read_only_fields = fields

    def get_counts(self, obj: StatementRun) -> dict[str, int]:
        return self.context["counts"]

    def get_failed_statements(self, obj: StatementRun) -> list[dict]:
        rows = self.context["failed"][: self.FAILED_SHOWN]
        return StatementRunFailedSerializer(rows, many=True).data


class StatementRunRequestSerializer(serializers.Serializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    month = serializers.IntegerField(min_value=1, max_value=12)
    reason = serializers.CharField(max_length=500, required=False, default="")
    chunk_size = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class StatementRunRetrySerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, default="")
