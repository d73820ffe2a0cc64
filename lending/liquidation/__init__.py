"""Liquidation: plans for overdue calls (the minimal whole-lot sale), four-eyes approval,
execution through a broker adapter (brokers: the only door to a broker), defaults covered
from the reserve fund. Imports margin_calls and below."""
