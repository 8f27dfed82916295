"""Operations: what a cockpit running unattended tells the outside world.

- ``provider_stats``: requests and errors per data/broker endpoint kind (counted
  where the HTTP clients send, for the metrics endpoint and ``cockpit doctor``);
- ``metrics``: the Prometheus view of a run, built from the engine's published
  figures (its summary, feed status and store status);
- ``alerts``: which journal lines and feed states become a webhook alert;
- ``webhook``: the bounded, retried, never-blocking sender of those alerts.

Pure like the rest of engine/: no UI import. The HTTP server and the tasks that
run these live in the application (cockpit/operations.py).
"""
