"""Live connections: what the Alpaca broker and feed share.

Backoff with jitter for reconnects and rate limits, key loading with redaction,
the broker-state reconciliation diff, and the connection doctor. Nothing here
talks to a UI; nothing here reads the wall clock (time comes from a Clock).
"""
