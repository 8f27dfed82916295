"""Real money needs a deliberate act: `--live` shows the account and asks the
trader to type its account number. Anything else leaves the cockpit unstarted."""
from __future__ import annotations

import sys
from typing import Callable

from engine.config import CockpitConfig, ConfigError


def fetch_live_account(config: CockpitConfig):
    """The live account as Alpaca reports it (number, status, equity)."""
    from alpaca.trading.client import TradingClient

    from engine.factory import _alpaca_keys
    from engine.live.secrets import redact

    keys = _alpaca_keys("--live")
    client = TradingClient(keys.key_id, keys.secret_key, paper=False,
                           url_override=config.endpoints.alpaca_trading or None)
    try:
        return client.get_account()
    except Exception as exc:
        raise ConfigError(f"--live: could not read the live account: {redact(str(exc))}") from None


def confirm_live(config: CockpitConfig, ask: Callable[[str], str] = input,
                 out=sys.stderr, account=None) -> bool:
    account = account if account is not None else fetch_live_account(config)
    number = str(getattr(account, "account_number", "") or "")
    if not number:
        print("cockpit: the broker did not report an account number; refusing to trade live", file=out)
        return False
    print(f"\n  LIVE TRADING: real money.\n  Alpaca account {number}, status {getattr(account, 'status', '?')}, "
          f"equity {getattr(account, 'equity', '?')}\n", file=out)
    try:
        typed = ask("  Type the account number to trade it live (anything else cancels): ")
    except EOFError:
        return False
    return typed.strip() == number
