"""Market state of the selected symbol: BALANCE / IMBALANCE with a word and an arrow
(readable without colour), the reference profile's POC / VAH / VAL, the
distance from that POC with the bar close it was measured at (the state is
classified at bar close; the live last price is on the first line), momentum,
VWAP and ATR (STRATEGY.md section 4)."""
from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.app import ComposeResult

from engine.model import MarketState, SymbolSnapshot

from . import format as fmt
from .base import Pane, TextPane, View

STATE_LABEL = {
    MarketState.BALANCE: ("◆ BALANCE", "flat"),
    MarketState.IMBALANCE_UP: ("▲ IMBALANCE UP", "up"),
    MarketState.IMBALANCE_DOWN: ("▼ IMBALANCE DOWN", "down"),
}
STATE_SHORT = {
    MarketState.BALANCE: ("◆ BAL", "flat"),
    MarketState.IMBALANCE_UP: ("▲ IMB↑", "up"),
    MarketState.IMBALANCE_DOWN: ("▼ IMB↓", "down"),
}


def state_label(state: MarketState, short: bool = False) -> tuple[str, str]:
    return (STATE_SHORT if short else STATE_LABEL)[state]


class MarketStatePane(Pane):
    def __init__(self) -> None:
        super().__init__("Market state", id="market", page="watch")

    def compose(self) -> ComposeResult:
        yield TextPane(id="market-body")

    def apply(self, view: View, force: bool = False) -> None:
        body = self.query_one("#market-body", TextPane)
        if force:
            body.forget()
        sym: Optional[SymbolSnapshot] = view.snap.symbols.get(view.symbol or "")
        self.set_subject(view.symbol)
        if sym is None:
            body.show_text(Text("no symbol selected", style=body.tone("muted")))
            return
        word, tone = state_label(sym.state)
        t = Text()
        t.append(f" {word} ", style=body.tone(tone) + body.tone("strong"))
        t.append(f"  last {fmt.price(sym.last)}\n")
        prof = sym.rolling
        t.append("POC ", style=body.tone("muted"))
        t.append(fmt.price(prof.poc if prof else None), style=body.tone("accent"))
        t.append("  VAH ", style=body.tone("muted"))
        t.append(fmt.price(prof.vah if prof else None))
        t.append("  VAL ", style=body.tone("muted"))
        t.append(fmt.price(prof.val if prof else None))
        # the state and this distance are as of the last closed bar (STRATEGY.md section 4):
        # say which price, so it is not read against the live last price
        t.append("\ndist POC ", style=body.tone("muted"))
        t.append(f"{fmt.num(sym.distance_from_poc_pct)}%")
        if sym.last_bar is not None:
            t.append(f" · {fmt.et(sym.last_bar.ts_ns, '%H:%M', tz=view.tz)} close {fmt.price(sym.last_bar.close)}",
                     style=body.tone("muted"))
        t.append("\nmomentum ", style=body.tone("muted"))
        mom_tone = "up" if sym.momentum > 0 else "down" if sym.momentum < 0 else None
        t.append(f"{fmt.signed(sym.momentum)} ATR", style=body.tone(mom_tone))
        t.append("\nVWAP ", style=body.tone("muted"))
        t.append(fmt.price(sym.vwap))
        t.append("  ATR ", style=body.tone("muted"))
        t.append(fmt.price(sym.atr))
        if sym.impulse is not None:
            leg = sym.impulse
            arrow = "▲" if leg.side.sign > 0 else "▼"
            t.append("\nimpulse ", style=body.tone("muted"))
            t.append(f"{arrow} {fmt.price(leg.start_price)}→{fmt.price(leg.extreme_price)} {fmt.num(leg.range_atr, 1)} ATR")
            if sym.pullback:
                t.append("  PULLBACK", style=body.tone("warn"))
        body.show_text(t)
