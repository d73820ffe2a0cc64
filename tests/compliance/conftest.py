from .fixtures import *  # noqa: F403  (fixtures shared with tests/lending/test_credit*.py)
