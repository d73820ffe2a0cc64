"""Mark-to-market: intraday runs over the whole book, sharded on Celery workers; the book as
arrays (book_arrays over pg_arrays and the balance mirror) and each shard's snapshot
(snapshots). Reads every area below it."""
