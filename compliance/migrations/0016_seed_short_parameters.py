"""Dated parameters of securities lending (融券), from compliance.parameters.SEED: the short
margin ratio (general and private securities investment funds), the desk-wide short float
stop and resume, the refinancing (转融券) switch, the standard lending fee rate and the short
position term. Sources: the exchanges' notices, the CSRC release of 2024-07-10, the SSE/SZSE
implementing rules, the desk's rate card (each row's ``source``)."""

from django.db import migrations

KEYS = {
    "shorts.margin_ratio",
    "shorts.margin_ratio_private_fund",
    "shorts.float_stop",
    "shorts.float_resume",
    "shorts.refinancing_enabled",
    "shorts.fee_rate_standard",
    "shorts.max_term_months",
}


def seed(apps, schema_editor):
    from compliance.parameters import SEED

    model = apps.get_model("compliance", "RegulatoryParameter")
    for key, effective_from, value, source in SEED:
        if key in KEYS:
            model.objects.get_or_create(
                key=key, effective_from=effective_from, defaults={"value": value, "source": source}
            )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0015_one_language_labels")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
