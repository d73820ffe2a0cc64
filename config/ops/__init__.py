"""Operations: the health check for load balancers (/healthz), Prometheus metrics (/metrics),
the request id carried into every log line and into Celery tasks. docs/OPERATIONS.md."""
