"""Turn command-line flags into config overrides (CLI > env > cockpit.toml > default)."""
from __future__ import annotations

import argparse

from engine.config import CockpitConfig, ConfigError, default_config_path, load_config


def parse_speed(raw: str) -> float:
    if raw.lower() in ("max", "0"):
        return 0.0
    try:
        value = float(raw.lower().rstrip("x"))
    except ValueError:
        raise ConfigError(f"--speed {raw!r} is not valid: allowed: a positive factor (1, 10, ...) or 'max'") from None
    if value <= 0:
        raise ConfigError(f"--speed {raw!r} is not valid: allowed: a positive factor (1, 10, ...) or 'max'")
    return value


def config_from_args(args: argparse.Namespace) -> CockpitConfig:
    o: dict = {}

    def put(section: str, key: str, value) -> None:
        if value is not None:
            o.setdefault(section, {})[key] = value

    put("feed", "kind", getattr(args, "feed", None))
    put("feed", "file", getattr(args, "file", None))
    if getattr(args, "speed", None) is not None:
        put("feed", "speed", parse_speed(args.speed))
    put("feed", "session", getattr(args, "session", None))
    put("feed", "sim_date", getattr(args, "date", None))
    put("app", "mode", getattr(args, "mode", None))
    if getattr(args, "symbols", None):
        put("app", "symbols", [s for s in args.symbols.split(",") if s.strip()])
    put("app", "seed", getattr(args, "seed", None))
    put("app", "db", getattr(args, "db", None))
    put("ui", "theme", getattr(args, "theme", None))
    if getattr(args, "live", False):
        put("broker", "live", True)
    if getattr(args, "feed", None) == "replay" and not getattr(args, "symbols", None) and getattr(args, "file", None):
        # a replay of one file trades one instrument: name it after the file
        from pathlib import Path

        stem = Path(args.file).name.split(".")[0].split("_")[0].upper()
        put("app", "symbols", [stem])
    path = getattr(args, "config", None) or default_config_path()
    return load_config(path, overrides=o)
