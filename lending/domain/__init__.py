"""Pure modules, no Django and no database: the margin formulas and their vectorised twins
(margin), risk analytics (analytics), SVG charts (charts), money rounding and display
(formats). numpy and the standard library only; property-tested."""
