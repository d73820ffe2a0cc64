"""A liquidation order's status: "working" until filled or until the broker reports its
remainder cancelled or rejected. A working order's unfilled part rests at the exchange and
counts as being sold, so a second Execute does not send those shares again.

Orders placed before this migration were treated as done once the broker answered (their
unfilled part was sent again by the next execution): they become "filled" when filled, else
"cancelled", which keeps that behaviour for them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lending", "0013_instrument_board_listing")]

    operations = [
        migrations.AddField(
            model_name="liquidationorder",
            name="status",
            field=models.CharField(
                choices=[
                    ("working", "Working"),
                    ("filled", "Filled"),
                    ("cancelled", "Cancelled"),
                    ("rejected", "Rejected"),
                ],
                default="working",
                max_length=12,
                verbose_name="status",
            ),
        ),
        migrations.RunSQL(
            "UPDATE lending_liquidationorder SET status = CASE WHEN filled_quantity >= quantity "
            "THEN 'filled' ELSE 'cancelled' END",
            migrations.RunSQL.noop,
        ),
    ]
