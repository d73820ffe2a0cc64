"""The end of day: one run per business date, a chain of steps run by the Celery workers
(docs/eod.md, "The end-of-day chain"). models: the run and its steps; steps: what each step
does (the services of lending, custody and reports it calls); services: start, advance,
resume and fail a run; tasks: the thin Celery tasks; views: the staff pages."""
