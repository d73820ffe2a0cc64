"""Instruments get their board (main, STAR, ChiNext) and listing date; the per-instrument
daily price limit goes: the band comes from the dated parameters per board (compliance:
prices.*) through lending.domain.prices.price_band.

Existing rows (and their history rows) get the board of their exchange and code: SSE
688xxx/689xxx STAR, SZSE 300xxx/301xxx ChiNext, anything else main (the rule of
lending.domain.prices.board_of, frozen here in SQL)."""

from decimal import Decimal

from django.db import migrations, models

BOARD_CHOICES = [("main", "Main board"), ("star", "STAR Market"), ("chinext", "ChiNext")]

FILL_SQL = """
UPDATE {table} SET board = CASE
    WHEN exchange = 'SSE' AND left(code, 3) IN ('688', '689') THEN 'star'
    WHEN exchange = 'SZSE' AND left(code, 3) IN ('300', '301') THEN 'chinext'
    ELSE 'main' END
"""


# backwards only: the per-instrument limit the board and ST flag gave
LIMIT_SQL = """
UPDATE lending_instrument SET price_limit = CASE
    WHEN board IN ('star', 'chinext') THEN 0.20 WHEN is_st THEN 0.05 ELSE 0.10 END
"""


class Migration(migrations.Migration):
    dependencies = [("lending", "0012_one_set_of_precisions")]

    operations = [
        migrations.AddField(
            model_name="historicalinstrument",
            name="board",
            field=models.CharField(
                choices=BOARD_CHOICES, default="main", max_length=8, verbose_name="board"
            ),
        ),
        migrations.AddField(
            model_name="historicalinstrument",
            name="listed_on",
            field=models.DateField(
                blank=True,
                help_text="First trading day; a new listing's first days have no price band.",
                null=True,
                verbose_name="listed on",
            ),
        ),
        migrations.AddField(
            model_name="instrument",
            name="board",
            field=models.CharField(
                choices=BOARD_CHOICES, default="main", max_length=8, verbose_name="board"
            ),
        ),
        migrations.AddField(
            model_name="instrument",
            name="listed_on",
            field=models.DateField(
                blank=True,
                help_text="First trading day; a new listing's first days have no price band.",
                null=True,
                verbose_name="listed on",
            ),
        ),
        migrations.RunSQL(
            FILL_SQL.format(table="lending_instrument")
            + ";"
            + FILL_SQL.format(table="lending_historicalinstrument"),
            migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name="instrument",
            constraint=models.CheckConstraint(
                condition=models.Q(("board__in", ["main", "star", "chinext"])),
                name="lending_instrument_board_valid",
            ),
        ),
        # backwards: the limit comes back filled from the board (0.10 first, as a default)
        *(
            migrations.AlterField(
                model_name=model,
                name="price_limit",
                field=models.DecimalField(
                    decimal_places=4,
                    default=Decimal("0.10"),
                    help_text="Fraction, e.g. 0.10 for ±10%.",
                    max_digits=7,
                    verbose_name="daily price limit",
                ),
            )
            for model in ("instrument", "historicalinstrument")
        ),
        migrations.RunSQL(migrations.RunSQL.noop, LIMIT_SQL),
        migrations.RemoveConstraint(
            model_name="instrument", name="lending_instrument_price_limit_range"
        ),
        migrations.RemoveField(model_name="historicalinstrument", name="price_limit"),
        migrations.RemoveField(model_name="instrument", name="price_limit"),
    ]
