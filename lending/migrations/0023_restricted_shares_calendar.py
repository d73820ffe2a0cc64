"""Restricted (lock-up) shares never collateral; a mark-to-market run records why deadlines
could not be computed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lending", "0022_exchange_lists")]

    operations = [
        migrations.AddField(
            model_name="collateraltransferin",
            name="restricted_shares",
            field=models.BooleanField(default=False, verbose_name="restricted (lock-up) shares"),
        ),
        migrations.AddField(
            model_name="historicalcollateraltransferin",
            name="restricted_shares",
            field=models.BooleanField(default=False, verbose_name="restricted (lock-up) shares"),
        ),
        migrations.AddConstraint(
            model_name="collateraltransferin",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "booked"), _negated=True),
                    ("restricted_shares", False),
                    _connector="OR",
                ),
                name="lending_transfer_in_never_restricted",
            ),
        ),
        migrations.AddField(
            model_name="mtmrun",
            name="deadline_problems",
            field=models.PositiveIntegerField(default=0, verbose_name="calls without a deadline"),
        ),
        migrations.AddField(
            model_name="mtmrun",
            name="problems",
            field=models.TextField(blank=True, verbose_name="problems"),
        ),
        migrations.AddField(
            model_name="mtmshard",
            name="deadline_problems",
            field=models.PositiveIntegerField(default=0, verbose_name="calls without a deadline"),
        ),
        migrations.AddField(
            model_name="mtmshard",
            name="problems",
            field=models.TextField(blank=True, verbose_name="problems"),
        ),
    ]
