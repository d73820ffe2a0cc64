"""Financing: what is booked on a credit account: financed and own-cash purchases, sales,
repayments, daily interest and its collection, withdrawals of cash and shares, and the
valuation of one account (valuation.account_view). Imports instruments and below."""
