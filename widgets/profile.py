"""The volume profile of the selected symbol as a horizontal histogram.

Drawn from ``SymbolSnapshot.session_profile.histogram`` (the developing RTH
session) with the previous session's POC / value area as reference marks. When
there are more price bins than screen rows, adjacent bins share a row (their
volumes are summed for drawing only). POC, value area, LVNs and the current
price are marked with words as well as colour.
"""
from __future__ import annotations

import math
from typing import Optional

from rich.text import Text
from textual.app import ComposeResult

from engine.model import ProfileStats

from . import format as fmt
from .base import Drawing, Pane, View


class ProfileChart(Drawing):
    """Renders the stored profile at whatever size the pane has."""

    def draw(self, data: tuple, width: int, height: int) -> Text:
        last, prof, prev = data
        muted = self.tone("muted")
        lines: list[Text] = []
        head = Text()
        if prof is not None and prof.total_volume > 0:
            head.append("POC ", style=muted)
            head.append(fmt.price(prof.poc), style=self.tone("warn"))
            head.append(f" VA {fmt.price(prof.val)}–{fmt.price(prof.vah)}", style=self.tone("accent"))
        else:
            head.append("no session volume yet", style=muted)
        lines.append(head)
        if prev is not None and prev.total_volume > 0:
            lines.append(Text(f"prev POC {fmt.price(prev.poc)} VA {fmt.price(prev.val)}–{fmt.price(prev.vah)}", style=muted))
        if prof is not None and prof.histogram and height > len(lines):
            lines += self._bars(prof, prev, last, width, height - len(lines))
        return Text("\n").join(lines[:height])

    def _bars(self, prof: ProfileStats, prev: Optional[ProfileStats], last: float, width: int, space: int) -> list[Text]:
        muted = self.tone("muted")
        above = fmt.is_num(last) and last >= prof.high
        below = fmt.is_num(last) and last < prof.low
        rows = self._rows(prof, space - (1 if (above or below) else 0))
        if not rows:
            return []
        max_vol = max(r[2] for r in rows) or 1.0
        bar_w = max(1, width - 10 - 11)
        lvns = [n.price for n in prof.lvns]
        out: list[Text] = []
        if above:
            out.append(Text(f"▲ last {fmt.price(last)} above the profile", style=self.tone("strong")))
        for lo, hi, vol in rows:
            inside = lambda p: p is not None and lo <= p < hi  # noqa: E731
            tags: list[tuple[str, str]] = []
            at_last = inside(last)
            if at_last:
                tags.append(("◀last", "strong"))
            is_poc = inside(prof.poc)
            if is_poc:
                tags.append(("POC", "warn"))
            if any(inside(p) for p in lvns):
                tags.append(("LVN", "down"))
            if prev is not None and prev.total_volume > 0:
                for word, p in (("pPOC", prev.poc), ("pVAH", prev.vah), ("pVAL", prev.val)):
                    if inside(p):
                        tags.append((word, "muted"))
            in_va = hi > prof.val and lo < prof.vah
            line = Text()
            line.append(f"{fmt.price((lo + hi) / 2, sep=False):>9} ", style=self.tone("strong") if at_last else muted)
            bar_tone = "warn" if is_poc else "accent" if in_va else "muted"
            line.append(fmt.bar(vol / max_vol, bar_w).ljust(bar_w), style=self.tone(bar_tone))
            for word, tone in tags:
                line.append(" " + word, style=self.tone(tone))
            out.append(line)
        if below:
            out.append(Text(f"▼ last {fmt.price(last)} below the profile", style=self.tone("strong")))
        return out

    @staticmethod
    def _rows(prof: ProfileStats, max_rows: int) -> list[tuple[float, float, float]]:
        """(low edge, high edge, volume) per screen row, highest price first."""
        hist = prof.histogram
        half = prof.bin_size / 2
        group = max(1, math.ceil(len(hist) / max(1, max_rows)))
        out = []
        for i in range(0, len(hist), group):
            chunk = hist[i : i + group]
            out.append((chunk[0][0] - half, chunk[-1][0] + half, sum(v for _, v in chunk)))
        out.reverse()
        return out


class ProfilePane(Pane):
    def __init__(self) -> None:
        super().__init__("Volume profile", id="profile", page="profile")

    def compose(self) -> ComposeResult:
        yield ProfileChart(id="profile-chart")

    def apply(self, view: View, force: bool = False) -> None:
        self.set_subject(view.symbol)
        sym = view.snap.symbols.get(view.symbol or "")
        data = None if sym is None else (sym.last, sym.session_profile, sym.previous_profile)
        self.query_one(ProfileChart).set_data(data, force)
