"""Corporate actions in the ledger: the journal-entry kind "corporate_action" (dividend
receivables, their payment, bonus and split shares). The ledger accounts they use are standard
purposes created on first use (custody.services.ledger.PURPOSES: custodian_entitlements of the
house, entitlement_receivable of the client): no seeded rows."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("custody", "0008_uncovered_losses")]

    operations = [
        migrations.AlterField(
            model_name="journalentry",
            name="kind",
            field=models.CharField(
                choices=[
                    ("deposit", "Client deposit"),
                    ("withdrawal", "Client withdrawal"),
                    ("transfer", "Transfer"),
                    ("interest", "Interest"),
                    ("fee", "Fee"),
                    ("financing", "Financing"),
                    ("trade", "Trade settlement"),
                    ("liquidation", "Liquidation proceeds"),
                    ("reserve", "Reserve fund"),
                    ("facility", "Backup facility"),
                    ("reconciliation", "Reconciliation top-up or withdrawal"),
                    ("securities", "Securities movement"),
                    ("reversal", "Reversal"),
                    ("adjustment", "Adjustment"),
                    ("corporate_action", "Corporate action"),
                ],
                max_length=20,
                verbose_name="kind",
            ),
        ),
    ]
