"""Dated desk policy for valuing suspended securities: seed valuation.suspended_discount (0:
the last price; source: desk risk policy) from compliance.parameters.SEED."""

from django.db import migrations

KEY = "valuation.suspended_discount"


def seed(apps, schema_editor):
    from compliance.parameters import SEED

    model = apps.get_model("compliance", "RegulatoryParameter")
    for key, effective_from, value, source in SEED:
        if key == KEY:
            model.objects.get_or_create(
                key=key, effective_from=effective_from, defaults={"value": value, "source": source}
            )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0010_seed_maturity_parameters")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
