"""Document-number sequences and the initial pricing grid."""

from datetime import date

from django.db import migrations

# Initial desk pricing, 6-9% a year (grade x collateral liquidity); later rows are dated.
PRICING_SEED_FROM = date(2010, 3, 31)
PRICING_SEED = {
    ("A", "high"): "0.0600", ("A", "medium"): "0.0650", ("A", "low"): "0.0700",
    ("B", "high"): "0.0650", ("B", "medium"): "0.0700", ("B", "low"): "0.0750",
    ("C", "high"): "0.0700", ("C", "medium"): "0.0750", ("C", "low"): "0.0800",
    ("D", "high"): "0.0750", ("D", "medium"): "0.0825", ("D", "low"): "0.0900",
}
SEQUENCES = ("lending_credit_contract_number_seq", "lending_credit_account_number_seq")


def seed_pricing(apps, schema_editor):
    PricingGridEntry = apps.get_model("lending", "PricingGridEntry")
    for (grade, liquidity), rate in PRICING_SEED.items():
        PricingGridEntry.objects.get_or_create(
            credit_grade=grade,
            collateral_liquidity=liquidity,
            effective_from=PRICING_SEED_FROM,
            defaults={"annual_rate": rate},
        )


class Migration(migrations.Migration):
    dependencies = [("lending", "0001_initial")]

    operations = [
        *[
            migrations.RunSQL(
                f"CREATE SEQUENCE IF NOT EXISTS {name} START 1",
                f"DROP SEQUENCE IF EXISTS {name}",
            )
            for name in SEQUENCES
        ],
        migrations.RunPython(seed_pricing, migrations.RunPython.noop),
    ]
