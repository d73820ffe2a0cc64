"""Database constraints that state one rule of the desk, shared by the apps' models."""

from django.db import models
from django.db.models import F, Q


def four_eyes(*, checker: str, maker: str, name: str) -> models.CheckConstraint:
    """Four eyes, enforced by the database: the user in `checker` (who approves or decides) is
    never the user in `maker` (who prepared); either may still be empty."""
    return models.CheckConstraint(
        condition=Q(**{f"{checker}__isnull": True})
        | Q(**{f"{maker}__isnull": True})
        | ~Q(**{checker: F(maker)}),
        name=name,
    )
