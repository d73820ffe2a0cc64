"""Instruments: listed securities, their collateral policy (eligibility, haircuts under the
dated caps, flags, the exchanges' daily lists) and prices (ticks, the latest price, the
price-move hook). Imports credit and below."""
