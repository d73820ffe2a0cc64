"""Orders: the only way to the market, and the only way a trade is booked.

- `models.py`: `Order` (a day limit order of a credit account; its filled quantity kept by
  PostgreSQL from its fills, never above its quantity), `Fill` (one execution, unique exec id,
  with its fees; append-only) and `ExecutionReportRecord` (every report as received).
- `services.py`: `order_place` (the pre-trade checks: the day's price band, lots, suitability,
  an active contract, margin, concentration, the float stop and the caps; a buy holds back its
  most possible cost), `order_cancel`, `liquidation_order_place_in_transaction` (for
  lending.liquidation), and the booking side: `execution_report_record` (the gateway stores a
  report once per exec id) and `execution_reports_apply` (the Celery task: each report once,
  in the order received, fills booked by lending.financing at the fill's price with fees).
- `selectors.py`: an account's orders, one order for a user, what working orders hold back
  (lending.financing.held_back's source, registered in lending.apps).
- `gateway.py`: `OrderGateway`, the process that holds the FIX session (`manage.py
  run_order_gateway`): sends placed orders and cancels, stores every execution report and
  enqueues its application.
- `reports.py`: the market's answers as plain data (`ExecutionReport`, `CancelReject`, the FIX
  ExecType and OrdStatus values): what the booking applies (and the demo seed stands in for).
- `fix_session.py`: `FixBroker`, the FIX 4.4 initiator (quickfix in a child process) that hands
  those over; `FixSettings` from the FIX_* settings. Only this area imports it (a contract).
- `exchange.py`: `SimulatedExchange`, our own FIX 4.4 acceptor for tests and the demo (`manage.py
  run_exchange` runs it with database prices), with a control API (fill partly, reject, hold,
  suspend, match, expire, resend).
- `engine.py`: the quickfix side of both, each engine in a child process of its own.
- `api.py`, `serializers.py`, `urls.py`, `views.py`, `tasks.py`: the doors.

Above lending.financing (whose booking and checks it calls), below liquidation (which places
its sales here).
"""
