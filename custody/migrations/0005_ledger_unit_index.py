from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0004_history_reason_text"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="ledgeraccount",
            index=models.Index(fields=["unit", "purpose"], name="custody_ledger_unit_purpose"),
        ),
    ]
