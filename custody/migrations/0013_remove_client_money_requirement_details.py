"""The JSON document of inputs per client is gone: they are the requirement's lines (0011,
0012)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("custody", "0012_client_money_requirement_lines_data")]

    operations = [
        migrations.RemoveField(model_name="clientmoneyrequirement", name="details"),
        migrations.RemoveField(model_name="historicalclientmoneyrequirement", name="details"),
    ]
