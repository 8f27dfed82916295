"""Aggression of the selected symbol (STRATEGY.md section 5): the 0-100 score as a
gauge, its direction, volume ratio, CVD and its change, pressure, and a CVD
sparkline of the closed bars."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from engine.model import FlowView

from . import format as fmt
from .base import Drawing, Pane, View, sign_tone


def plus(x: float) -> str:
    return ("+" if fmt.is_num(x) and x > 0 else "") + fmt.compact(x)


class AggressionChart(Drawing):
    def draw(self, f: FlowView, width: int, height: int) -> Text:
        muted = self.tone("muted")
        direction, tone = "no direction", None
        if f.direction is not None:
            direction = "▲ BUY" if f.direction.sign > 0 else "▼ SELL"
            tone = "up" if f.direction.sign > 0 else "down"
        t = Text()
        t.append(f"{f.aggression:3.0f}/100 ", style=self.tone("strong"))
        t.append(direction, style=self.tone(tone))
        t.append("\n")
        t.append(fmt.gauge(f.aggression, min(width, 40)), style=self.tone(tone if f.aggression >= 70 else "muted"))
        t.append("\nvol ratio ", style=muted)
        t.append(f"{fmt.num(f.volume_ratio)}x")
        t.append("\npressure ", style=muted)
        t.append(f"buy {fmt.num(f.buy_pressure, 0)}% sell {fmt.num(f.sell_pressure, 0)}%")
        t.append("\nCVD ", style=muted)
        t.append(plus(f.cvd), style=self.tone(sign_tone(f.cvd)))
        t.append("  chg ", style=muted)
        t.append(plus(f.cvd_change), style=self.tone(sign_tone(f.cvd_change)))
        t.append("\nlast bar delta ", style=muted)
        t.append(plus(f.last_delta), style=self.tone(sign_tone(f.last_delta)))
        spark = fmt.sparkline(f.cvd_history, min(width, 80))
        if spark and height > 5:
            t.append("\n")
            t.append(spark, style=self.tone("accent"))
        return t


class AggressionPane(Pane):
    def __init__(self) -> None:
        super().__init__("Aggression", id="aggression", page="flow")

    def compose(self) -> ComposeResult:
        yield AggressionChart(id="aggression-chart")

    def apply(self, view: View, force: bool = False) -> None:
        self.set_subject(view.symbol)
        sym = view.snap.symbols.get(view.symbol or "")
        self.query_one(AggressionChart).set_data(sym.flow if sym else None, force)
