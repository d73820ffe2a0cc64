"""HTTP load benchmark: the account API, the portal account page and price ingestion, driven at a
fixed arrival rate from a second process against gunicorn on loopback. See README.md here and
`python -m bench.load --help`. This package imports nothing from Django at import time: the load
generator (client.py) is stdlib-only and runs in its own process."""
