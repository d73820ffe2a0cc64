"""Snapshot -> HTML -> PDF. WeasyPrint with no network and no file access: a filing is
self-contained (inline CSS and SVG, system fonts found by fontconfig: Noto Sans CJK SC)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from .kinds import FilingKind


def css_string(text: str) -> str:
    """Text as a quoted CSS string (for @page margin boxes)."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{escaped}"'


def _page_counter() -> str:
    # "Page " counter(page) " of " counter(pages) "", in the active language.
    text = _("Page %(page)s of %(pages)s").replace("\\", "").replace('"', "")
    return '"' + text % {"page": '" counter(page) "', "pages": '" counter(pages) "'} + '"'


REGISTER_ROW_LIMIT = 500


def _labels() -> dict:
    from accounts.models import IdentityType, InvestorCategory, InvestorType
    from lending.shorts.models import CompensationKind

    return {
        "investor_type": {c: str(label) for c, label in InvestorType.choices},
        "category": {c: str(label) for c, label in InvestorCategory.choices},
        "id_type": {c: str(label) for c, label in IdentityType.choices},
        "compensation_kind": {c: str(label) for c, label in CompensationKind.choices},
    }


def _pending_labels() -> dict:
    return {
        "reconciliation_results": _("Reconciliation results and breaks"),
        "client_money_requirement": _("Client-money requirement (15c3-3 model)"),
        "credit_summary": _("Credit account figures"),
        "financings": _("Per-financing details"),
    }


def _common(*, title: str, as_of: datetime, data_sha256: str) -> dict:
    return {
        "labels": _labels(),
        "pending_labels": _pending_labels(),
        "row_limit": REGISTER_ROW_LIMIT,
        "row_limit_slice": f":{REGISTER_ROW_LIMIT}",
        "title": title,
        "desk_name": settings.DESK_NAME,
        "desk_license": settings.DESK_LICENSE,
        "as_of": timezone.localtime(as_of),
        "data_sha256": data_sha256,
        "generated_at": timezone.localtime(),
        "css_desk": mark_safe(css_string(settings.DESK_NAME)),  # noqa: S308 (escaped above)
        "css_title": mark_safe(css_string(title)),  # noqa: S308
        "css_page": mark_safe(_page_counter()),  # noqa: S308
    }


def filing_html(
    *, kind: FilingKind, snapshot: dict, data_sha256: str, version: int, language: str
) -> str:
    with translation.override(language):
        charts = kind.charts(snapshot) if kind.charts else {}
        context = _common(
            title=str(kind.title), as_of=snapshot_as_of(snapshot), data_sha256=data_sha256
        )
        context.update(
            kind=kind,
            version=version,
            data=snapshot["data"],
            snapshot=snapshot,
            charts={k: mark_safe(v) for k, v in charts.items()},  # noqa: S308 (svg.py escapes)
        )
        return render_to_string(kind.template, context)


def statement_html(*, snapshot: dict, data_sha256: str, language: str) -> str:
    with translation.override(language):
        context = _common(
            title=_("Monthly statement"), as_of=snapshot_as_of(snapshot), data_sha256=data_sha256
        )
        context.update(data=snapshot["data"], snapshot=snapshot)
        return render_to_string("reports/pdf/statement.html", context)


def snapshot_as_of(snapshot: dict) -> datetime:
    value = snapshot["as_of"]
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


_FONT_CONFIG = None


def _font_config():
    """One WeasyPrint FontConfiguration per process, reused by every document it renders (a
    worker renders thousands of statements): fontconfig's set-up and pango's font map are
    made once. The documents use system fonts only (no @font-face), so nothing of one
    document stays in it for the next."""
    global _FONT_CONFIG
    if _FONT_CONFIG is None:
        from weasyprint.text.fonts import FontConfiguration

        _FONT_CONFIG = FontConfiguration()
    return _FONT_CONFIG


def pdf_bytes(html: str) -> bytes:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Only data: URLs: no network, no local files, nothing that could differ between hosts.
    fetcher = URLFetcher(allowed_protocols={"data"})
    return HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf(
        font_config=_font_config()
    )
