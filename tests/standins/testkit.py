"""Shared test wiring for the broker and feed adapters: fake (but realistically
long) keys that must never show up in any text, and the wall time the stand-ins
start at."""
from __future__ import annotations

KEY_ID = "PKSTANDIN7Q2XK4M9ZT1"
SECRET = "sk9Vq3LmT8pWz2RyX6cN4bJh7Fd1Gs5Ka0Ee3Uo8"
POLYGON_KEY = "PKtestPolygonKey0123456789"
T0 = 1_704_207_600_000_000_000  # 2024-01-02 15:00:00 UTC (10:00 ET)
