"""Orders: the way to the market.

What exists so far is the FIX transport and its test double, not yet wired to orders,
pre-trade checks or ledger booking:

- `fix_session.py`: `FixBroker`, a FIX 4.4 initiator session that sends NewOrderSingle and
  OrderCancelRequest and hands back each ExecutionReport as a frozen `ExecutionReport` of
  Decimals, once per exec id, in the order the session received them. `FixSettings` comes
  from the FIX_* settings (config/settings.py).
- `exchange.py`: `SimulatedExchange`, our own FIX 4.4 exchange on loopback for tests and the
  demo, with a control API (fill partly, reject, hold, suspend, match, expire, resend).
  `manage.py run_exchange` runs it with prices from the database.
- `engine.py`: the quickfix side of both. Each quickfix engine runs in a child process of its
  own (quickfix calls Python from its own threads, and stopping an engine in a process that
  goes on running is not safe); the two classes above only talk to it over queues, so no
  quickfix object lives in the calling process.
"""
