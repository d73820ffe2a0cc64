"""Margin calls: each account's margin state, calls with deadlines, staged bilingual notices
(an e-mail outbox), escalation and reminders. Imports financing and below; liquidation acts
on cured calls through CALL_CURED_HOOKS."""
