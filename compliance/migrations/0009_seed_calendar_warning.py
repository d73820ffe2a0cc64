"""Seed the dated desk parameter calendar.warning_days (source: desk policy): staff are warned
this many days before the last session the Shanghai trading calendar knows."""

from django.db import migrations

KEY = "calendar.warning_days"


def seed(apps, schema_editor):
    from compliance.parameters import SEED

    model = apps.get_model("compliance", "RegulatoryParameter")
    for key, effective_from, value, source in SEED:
        if key == KEY:
            model.objects.get_or_create(
                key=key, effective_from=effective_from, defaults={"value": value, "source": source}
            )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0008_unmatched_deposit_flag")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
