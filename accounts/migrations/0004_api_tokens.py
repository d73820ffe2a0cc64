"""API tokens: hashed at rest, expiring, several per user, named per device, revocable.

DRF's clear-text tokens (rest_framework.authtoken, no longer installed) are dropped: every
client asks for a new token (POST /api/v1/auth/tokens/), of which only a digest is stored.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_history_reason_text")]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                ("token_key", models.CharField(db_index=True, max_length=25)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("expiry", models.DateTimeField(blank=True, null=True)),
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("digest", models.CharField(max_length=128, unique=True)),
                ("name", models.CharField(max_length=80, verbose_name="device")),
                (
                    "last_used_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="last used"),
                ),
                (
                    "verified_until",
                    models.DateTimeField(
                        blank=True,
                        help_text="Staff tokens issued with an authenticator code may write "
                        "until then.",
                        null=True,
                        verbose_name="second factor until",
                    ),
                ),
                (
                    "revoked_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="revoked at"),
                ),
                (
                    "revoked_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="auth_token_set",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "API token",
                "verbose_name_plural": "API tokens",
                "ordering": ["-created"],
                "permissions": [("revoke_any_token", "Can revoke another user's API token")],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("expiry__isnull", False)),
                        name="accounts_apitoken_expires",
                    )
                ],
            },
        ),
        # the clear-text tokens of rest_framework.authtoken (no longer installed)
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", migrations.RunSQL.noop),
    ]
