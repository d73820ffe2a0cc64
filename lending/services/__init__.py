"""Lending services, one module per area (credit.py: applications, contracts, accounts)."""
