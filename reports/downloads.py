"""File responses shared by the API and the pages (no rules: the selectors decide access)."""

from django.http import FileResponse
from django.utils.translation import gettext as _

from accounts.errors import NotFound

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}


def file_response(stored, *, fmt: str, filename: str, sha256: str) -> FileResponse:
    if fmt not in CONTENT_TYPES:
        raise NotFound(
            _("format %(format)s not offered (pdf, json, csv)") % {"format": repr(fmt)},
            code="format_not_found",
        )
    if not stored:
        raise NotFound(_("the file has not been generated yet"), code="file_not_ready")
    response = FileResponse(
        stored.open("rb"),
        as_attachment=True,
        filename=filename,
        content_type=CONTENT_TYPES[fmt],
    )
    response["X-Content-SHA256"] = sha256
    return response


def filing_file_response(filing, fmt: str) -> FileResponse:
    field = {"pdf": "pdf_file", "json": "json_file", "csv": "csv_file"}.get(fmt)
    if field is None:
        raise NotFound(
            _("format %(format)s not offered (pdf, json, csv)") % {"format": repr(fmt)},
            code="format_not_found",
        )
    return file_response(
        getattr(filing, field),
        fmt=fmt,
        filename=f"{filing.kind}-{filing.as_of:%Y%m%d-%H%M%S}-v{filing.version}.{fmt}",
        sha256=getattr(filing, f"{fmt}_sha256"),
    )


def statement_file_response(statement) -> FileResponse:
    return file_response(
        statement.pdf_file,
        fmt="pdf",
        filename=f"statement-{statement.period_start:%Y-%m}.pdf",
        sha256=statement.pdf_sha256,
    )
