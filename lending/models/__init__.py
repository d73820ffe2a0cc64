"""Lending models, one module per area; import them from here (`from lending.models import X`)."""

from .book import *  # noqa: F403  (each area module lists its own __all__)
from .calls import *  # noqa: F403
from .credit import (
    CollateralLiquidity,
    ContractStatus,
    CreditAccount,
    CreditAccountStatus,
    CreditApplication,
    CreditApplicationKind,
    CreditApplicationStatus,
    CreditContract,
    CreditGrade,
    PricingGridEntry,
)
from .mtm import *  # noqa: F403
from .risk import *  # noqa: F403

__all__ = [
    "CollateralLiquidity",
    "ContractStatus",
    "CreditAccount",
    "CreditAccountStatus",
    "CreditApplication",
    "CreditApplicationKind",
    "CreditApplicationStatus",
    "CreditContract",
    "CreditGrade",
    "PricingGridEntry",
]
