"""Credit: applications under four-eyes review, credit contracts and renewals, credit accounts,
the pricing grid, held deposits screening; the desk's lock order (locks) and the
investor-or-staff permission rule (permissions). The lowest area: imports only common and
domain."""
