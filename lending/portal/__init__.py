"""Portal: what the investor sees of the whole account: the home page, the account page and
the credit-account API (figures from financing's valuation, states from margin_calls), the
leverage simulator. Reads every area below it."""
