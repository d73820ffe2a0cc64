"""Seed the dated desk parameter liquidation.slippage (source: desk risk policy): a liquidation
plan is sized at the latest price less this fraction, never at the day's lower price limit.
Only this key's rows of compliance.parameters.SEED are inserted (missing ones only)."""

from django.db import migrations

KEY = "liquidation.slippage"


def seed_slippage(apps, schema_editor):
    from compliance.parameters import SEED

    model = apps.get_model("compliance", "RegulatoryParameter")
    for key, effective_from, value, source in SEED:
        if key == KEY:
            model.objects.get_or_create(
                key=key, effective_from=effective_from, defaults={"value": value, "source": source}
            )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0004_history_reason_text")]

    operations = [migrations.RunPython(seed_slippage, migrations.RunPython.noop)]
