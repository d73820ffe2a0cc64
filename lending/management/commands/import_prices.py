"""Import price ticks from a CSV file (header instrument,price,at), idempotently."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import ApplicationError
from lending.instruments import services as instruments_services


class Command(BaseCommand):
    help = "Import price ticks from a CSV file (instrument,price,at); repeated ticks are ignored."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--source", default="csv")

    def handle(self, *args, path: Path, source: str, **options):
        try:
            accepted, ignored = instruments_services.prices_import_csv(
                content=path.read_bytes(), source=source, actor=None
            )
        except (OSError, ApplicationError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{accepted} accepted, {ignored} ignored")
