"""Seed the dated collateral and book parameters (haircut caps by category, concentration,
float stop/resume, net-capital limits, stale-price threshold) read by lending's book."""

from django.db import migrations


def seed_parameters(apps, schema_editor):
    from compliance.parameters import seed_parameters

    seed_parameters(apps.get_model("compliance", "RegulatoryParameter"))


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_seed_reference_data")]

    operations = [migrations.RunPython(seed_parameters, migrations.RunPython.noop)]
