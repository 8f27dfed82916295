"""Turn command-line flags into config overrides (CLI > env > cockpit.toml > default)."""
from __future__ import annotations

import argparse
import math

from engine.config import CockpitConfig, ConfigError, default_config_path, load_config


def parse_speed(raw: str) -> float:
    if raw.lower() in ("max", "0"):
        return 0.0
    try:
        value = float(raw.lower().rstrip("x"))
    except ValueError:
        raise ConfigError(f"--speed {raw!r} is not valid: allowed: a positive factor (1, 10, ...) or 'max'") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"--speed {raw!r} is not valid: allowed: a positive factor (1, 10, ...) or 'max'")
    return value


def parse_symbols(raw: str) -> list[str]:
    """``--symbols SPY,qqq, SPY`` -> [SPY, QQQ]: upper case, each once, in the order given.
    An empty list is an error (it used to run the defaults without saying so)."""
    out: list[str] = []
    for part in raw.split(","):
        sym = part.strip().upper()
        if sym and sym not in out:
            out.append(sym)
    if not out:
        raise ConfigError(f"--symbols {raw!r} names no symbol: give a comma-separated list, e.g. SPY,QQQ "
                          "(leave the flag out for cockpit.toml's symbols)")
    return out


def config_from_args(args: argparse.Namespace) -> CockpitConfig:
    return load_config(args.config or default_config_path(), overrides=overrides_from_args(args))


def overrides_from_args(args: argparse.Namespace) -> dict:
    """The config sections the flags set (the highest layer; ``cockpit config effective`` names them)."""
    o: dict = {}

    def put(section: str, key: str, value) -> None:
        if value is not None:
            o.setdefault(section, {})[key] = value

    put("feed", "kind", args.feed)
    put("feed", "file", args.file)
    if args.speed is not None:
        put("feed", "speed", parse_speed(args.speed))
    put("feed", "session", args.session)
    put("feed", "sim_date", args.date)
    days = getattr(args, "days", None)
    if days is not None and days < 1:
        raise ConfigError(f"--days {days} is not valid: allowed: a whole number of days >= 1")
    put("feed", "days", days)
    put("app", "mode", args.mode)
    if args.symbols is not None:
        put("app", "symbols", parse_symbols(args.symbols))
    put("app", "seed", args.seed)
    put("app", "db", args.db)
    put("ui", "theme", args.theme)
    if args.live:
        put("broker", "live", True)
    if args.feed == "replay" and not args.symbols and args.file:
        # a replay of one file trades one instrument: name it after the file
        from pathlib import Path

        stem = Path(args.file).name.split(".")[0].split("_")[0].upper()
        put("app", "symbols", [stem])
    files = getattr(args, "setup_file", None)
    if files:
        from engine.strategy.plugins import plugins_of_files

        plugins = plugins_of_files(files)
        base = load_config(args.config or default_config_path(), overrides=o)
        o["strategy"] = {"plugins": {**base.strategy.plugins, **plugins},
                         "setups": [*base.strategy.setups, *(n for n in plugins if n not in base.strategy.setups)]}
    return o
