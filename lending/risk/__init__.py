"""Risk analytics: stress tests, historical replay and Monte Carlo over the book, sizing the
reserve target written through custody. Reads the areas below it, mtm's arrays included."""
