"""Import an exchange's list file (the daily drop): eligible collateral with conversion rates,
or the financing target list. The same file for the same exchange, list and day is imported
once (a rerun reports the first import)."""

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.errors import ApplicationError
from lending.instruments import exchange_lists
from lending.instruments.models import Exchange, ExchangeListKind


class Command(BaseCommand):
    help = (
        "Import an exchange list CSV (header code,conversion_rate for eligible_collateral; "
        "code for financing_target), effective from --effective-on (today by default)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--exchange", required=True, choices=Exchange.values)
        parser.add_argument("--kind", required=True, choices=ExchangeListKind.values)
        parser.add_argument(
            "--effective-on", type=date.fromisoformat, default=None, help="YYYY-MM-DD"
        )
        parser.add_argument("--reason", default="daily exchange list drop")

    def handle(self, *args, path: Path, exchange: str, kind: str, **options):
        effective_on = options["effective_on"] or timezone.localdate()
        try:
            list_import, created = exchange_lists.exchange_list_import(
                exchange=exchange,
                kind=kind,
                effective_on=effective_on,
                file_name=path.name,
                content=path.read_bytes(),
                actor=None,
                reason=options["reason"],
            )
        except (OSError, ApplicationError) as exc:
            raise CommandError(str(exc)) from exc
        verb = "imported" if created else "already imported as"
        self.stdout.write(
            f"{verb} #{list_import.pk}: {exchange} {kind} from {effective_on.isoformat()}, "
            f"{list_import.row_count} rows, sha256 {list_import.sha256}, "
            f"unknown codes: {', '.join(list_import.unknown_codes) or 'none'}"
        )
