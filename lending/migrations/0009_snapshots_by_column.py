"""Mark-to-market snapshots by column: one row per (run, shard) with an array per figure instead
of one row per account (a million rows a run). Existing snapshots are converted, not dropped:
grouped per (run, shard), accounts ascending, a NULL ratio (no debt) becoming +Infinity. The
arrays are stored uncompressed (STORAGE EXTERNAL): compressing megabytes of floats at every run
would cost more than it saves."""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

CONVERT = r"""
INSERT INTO lending_mtmsnapshot (run_id, shard, accounts, ratios, assets, liabilities, states,
                                 stored_states)
SELECT run_id, shard,
       array_agg(credit_account_id ORDER BY credit_account_id),
       array_agg(coalesce(ratio, 'Infinity') ORDER BY credit_account_id),
       array_agg(assets ORDER BY credit_account_id),
       array_agg(liabilities ORDER BY credit_account_id),
       array_agg(state ORDER BY credit_account_id),
       array_agg(stored_state ORDER BY credit_account_id)
  FROM lending_mtmsnapshotrow GROUP BY run_id, shard;
"""

STORAGE = r"""
ALTER TABLE lending_mtmsnapshot
    ALTER COLUMN accounts SET STORAGE EXTERNAL, ALTER COLUMN ratios SET STORAGE EXTERNAL,
    ALTER COLUMN assets SET STORAGE EXTERNAL, ALTER COLUMN liabilities SET STORAGE EXTERNAL,
    ALTER COLUMN states SET STORAGE EXTERNAL, ALTER COLUMN stored_states SET STORAGE EXTERNAL;
"""


def _array(field, name):
    return django.contrib.postgres.fields.ArrayField(
        base_field=field, size=None, verbose_name=name
    )


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0008_risk_balance_mirror"),
    ]

    operations = [
        migrations.RenameModel("MtmSnapshot", "MtmSnapshotRow"),
        migrations.AlterField(
            model_name="mtmsnapshotrow",
            name="run",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="lending.mtmrun",
            ),
        ),
        migrations.CreateModel(
            name="MtmSnapshot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("shard", models.PositiveIntegerField(verbose_name="shard")),
                ("accounts", _array(models.BigIntegerField(), "credit accounts")),
                ("ratios", _array(models.FloatField(), "maintenance ratios")),
                ("assets", _array(models.FloatField(), "total assets")),
                ("liabilities", _array(models.FloatField(), "total liabilities")),
                ("states", _array(models.SmallIntegerField(), "screened states")),
                ("stored_states", _array(models.SmallIntegerField(), "stored states before")),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="snapshots",
                        to="lending.mtmrun",
                    ),
                ),
            ],
            options={
                "verbose_name": "mark-to-market snapshot",
                "verbose_name_plural": "mark-to-market snapshots",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("run", "shard"), name="lending_mtm_snapshot_shard"
                    )
                ],
            },
        ),
        migrations.RunSQL(STORAGE, migrations.RunSQL.noop),
        migrations.RunSQL(CONVERT, migrations.RunSQL.noop),
        migrations.DeleteModel("MtmSnapshotRow"),
    ]
