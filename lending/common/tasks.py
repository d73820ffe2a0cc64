"""What every area's Celery tasks share."""

#: Tasks take ids and re-check state under the service's locks, so redelivery is harmless:
#: acknowledged late, with explicit time limits.
LIMITS = {"acks_late": True, "time_limit": 600, "soft_time_limit": 540}
