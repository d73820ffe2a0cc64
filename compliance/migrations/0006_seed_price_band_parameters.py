"""Seed the dated price-band parameters (sources in compliance.parameters.SEED): the daily band
per board and for ST / *ST (prices.band.<board>, prices.band_st.<board>), a new listing's
first trading days without a band (prices.no_band_trading_days.<board>) and the price tick per
instrument category (prices.tick_size.<category>). Only the "prices." rows of SEED are inserted
(missing ones only)."""

from django.db import migrations

PREFIX = "prices."


def seed_price_bands(apps, schema_editor):
    from compliance.parameters import SEED

    model = apps.get_model("compliance", "RegulatoryParameter")
    for key, effective_from, value, source in SEED:
        if key.startswith(PREFIX):
            model.objects.get_or_create(
                key=key, effective_from=effective_from, defaults={"value": value, "source": source}
            )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0005_seed_liquidation_slippage")]

    operations = [migrations.RunPython(seed_price_bands, migrations.RunPython.noop)]
