"""Dated parameters of maturity: terms of a financing and an extension, reminders, penalty."""

from django.db import migrations

KEYS = {
    "financing.max_term_months",
    "financing.extension_max_months",
    "financing.reminder_first_trading_days",
    "financing.reminder_second_trading_days",
    "financing.penalty_rate_standard",
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
    dependencies = [("compliance", "0009_seed_calendar_warning")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
