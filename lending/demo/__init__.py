"""The demo desk (`manage.py seed_demo` calls `lending.demo.seed`): the top area, it drives
every other through its services."""

from lending.demo.desk import seed

__all__ = ["seed"]
