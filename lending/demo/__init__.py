"""The demo desk (`manage.py seed_demo` calls `lending.demo.seed`)."""

from lending.demo.desk import seed

__all__ = ["seed"]
