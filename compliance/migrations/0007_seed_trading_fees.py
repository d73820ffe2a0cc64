"""Seed the dated trading-fee parameters (sources in compliance.parameters.SEED): stamp duty on
sales (fees.stamp_duty_sale: 0.1% from 2008-09-19, 0.05% from 2023-08-28), the transfer fee on
both sides (fees.transfer_fee: 0.002% from 2015-08-01, 0.001% from 2022-04-29), and the desk's
tariff (fees.commission_standard_rate, given to each new contract; fees.commission_minimum per
order). Only the "fees." rows of SEED are inserted (missing ones only)."""

from django.db import migrations

PREFIX = "fees."


def seed_fees(apps, schema_editor):
    from compliance.parameters import SEED

    model = apps.get_model("compliance", "RegulatoryParameter")
    for key, effective_from, value, source in SEED:
        if key.startswith(PREFIX):
            model.objects.get_or_create(
                key=key, effective_from=effective_from, defaults={"value": value, "source": source}
            )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0006_seed_price_band_parameters")]

    operations = [migrations.RunPython(seed_fees, migrations.RunPython.noop)]
