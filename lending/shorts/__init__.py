"""Shorts: securities lending (融券). For now the lending inventory (券源): lots of lendable
securities per instrument and source (the house's own holdings booked in the ledger, or
refinancing from the securities finance corporation while the dated switch allows it), and
the reservations the short-sale order will hold on them. Imports instruments and below."""
