"""Liquidation: plans for overdue calls (the minimal whole-lot sale), four-eyes approval,
execution as liquidation orders of lending.orders (which alone talks to the FIX session),
re-planning of an unsold remainder, defaults covered from the reserve fund. Imports
margin_calls and below."""
