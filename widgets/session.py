"""Session indicator (STRATEGY.md section 7): session, the time in the instrument's
own zone (ET, UTC, CT), recommended setup, RTH open/close (a 24-hour market: its
trading day, no RTH) and the time to the next session."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult

from . import format as fmt
from .base import Pane, TextPane, View

SESSION_WORD = {"NEW_YORK": "NEW YORK", "AFTER_HOURS": "AFTER HOURS"}


class SessionPane(Pane):
    def __init__(self) -> None:
        super().__init__("Session", id="session", page="watch")

    def compose(self) -> ComposeResult:
        yield TextPane(id="session-body")

    def apply(self, view: View, force: bool = False) -> None:
        body = self.query_one("#session-body", TextPane)
        if force:
            body.forget()
        info = view.snap.session
        if info is None:
            body.show_text(Text("session unknown", style=body.tone("muted")))
            return
        t = Text()
        tone = "up" if info.in_rth else "muted" if info.name == "CLOSED" else "accent"
        around_clock = info.phase == "24H"  # a 24-hour market: no RTH, the world's hours say who trades
        name = SESSION_WORD.get(info.name, info.name)
        t.append(f" 24H · {name} " if around_clock else f" {name} ", style=body.tone(tone) + body.tone("strong"))
        t.append(f"  {info.local_time or info.et_time} {info.zone}\n")
        t.append("setup ", style=body.tone("muted"))
        t.append(info.recommended_setup or "none (outside policy)", style=body.tone("accent" if info.recommended_setup else "muted"))
        if info.policy is not None or info.next_policy is not None:  # trading session policies
            t.append("\npolicy ", style=body.tone("muted"))
            t.append(info.policy or "none: no entries", style=body.tone("accent" if info.policy else "warn"))
            if info.next_policy is not None and info.seconds_to_next_policy is not None:
                start = info.next_policy.split("-", 1)[0]
                t.append(f" · next {start} in {fmt.duration(info.seconds_to_next_policy)}", style=body.tone("muted"))
        t.append("\nday " if around_clock or info.zone != "ET" else "\nRTH ", style=body.tone("muted"))
        if info.rth_open_ns and info.rth_close_ns:
            if around_clock:
                t.append(f"24h from {fmt.et(info.rth_open_ns, '%H:%M', info.tz)} {info.zone}")
            else:
                t.append(f"{fmt.et(info.rth_open_ns, '%H:%M', info.tz)}–{fmt.et(info.rth_close_ns, '%H:%M', info.tz)}")
            if info.is_half_day:
                t.append(" half day", style=body.tone("warn"))
        else:
            t.append("closed today", style=body.tone("muted"))
        t.append("\nnext ", style=body.tone("muted"))
        t.append(f"{SESSION_WORD.get(info.next_session, info.next_session)} in {fmt.duration(info.seconds_to_next)}")
        body.show_text(t)
