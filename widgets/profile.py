"""The volume profile of the selected symbol as a horizontal histogram.

Drawn from ``SymbolSnapshot.session_profile.histogram`` (the developing RTH
session, the same profile as the POC / VA line above it) with the previous
session's POC / value area as reference marks. One row per bin of that profile:
when there are more bins than rows, the ladder shows a window of them around the
last price (and the POC when both fit) and says how many are hidden above and
below; bins are never merged, so the POC row always has the longest bar and the
marks sit on the bins the header names. POC, value area, LVNs and the current
price are marked with words as well as colour.
"""
from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.app import ComposeResult

from engine.model import ProfileStats

from . import format as fmt
from .base import Drawing, Pane, View


class ProfileChart(Drawing):
    """Renders the stored profile at whatever size the pane has."""

    _ladder_top: Optional[float] = None  # the top bin of the window shown last (see ladder_window)

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
        hist = prof.histogram
        half = prof.bin_size / 2
        rows, hidden_above, hidden_below = ladder_window(hist, half, prof.poc, last,
                                                         space - (1 if (above or below) else 0), self._ladder_top)
        # a window keeps its place while the last price stays well inside it: a ladder
        # that scrolled with every tick would repaint every row (terminal bytes)
        self._ladder_top = rows[0][0] if rows and (hidden_above or hidden_below) else None
        if not rows:
            return []
        max_vol = max(v for _, v in hist) or 1.0  # the whole profile's: the POC's bar is the longest
        bar_w = max(1, width - 10 - 11)
        lvns = [n.price for n in prof.lvns]
        out: list[Text] = []
        if above:
            out.append(Text(f"▲ last {fmt.price(last)} above the profile", style=self.tone("strong")))
        elif hidden_above:
            out.append(Text(f"   ▲ {hidden_above} more price(s) above", style=muted))
        for centre, vol in rows:
            lo, hi = centre - half, centre + half
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
            in_va = prof.val <= centre <= prof.vah
            line = Text()
            line.append(f"{fmt.price(centre, sep=False):>9} ", style=self.tone("strong") if at_last else muted)
            bar_tone = "warn" if is_poc else "accent" if in_va else "muted"
            line.append(fmt.bar(vol / max_vol, bar_w).ljust(bar_w), style=self.tone(bar_tone))
            for word, tone in tags:
                line.append(" " + word, style=self.tone(tone))
            out.append(line)
        if below:
            out.append(Text(f"▼ last {fmt.price(last)} below the profile", style=self.tone("strong")))
        elif hidden_below:
            out.append(Text(f"   ▼ {hidden_below} more price(s) below", style=muted))
        return out


def ladder_window(hist, half: float, poc: float, last: float, max_rows: int,
                  keep_top: Optional[float] = None) -> tuple[list[tuple[float, float]], int, int]:
    """The profile's own bins (one row each, highest price first; never merged, so
    every row is a bin of the header's profile) that fit ``max_rows``: all of them,
    or a window around the last price that keeps the POC in view when both fit.
    ``keep_top`` (the top bin shown before) keeps the window where it was while the
    last price is at least a row inside it. Returns (rows, bins hidden above,
    bins hidden below)."""
    n = len(hist)
    if n == 0 or max_rows <= 0:
        return [], 0, 0
    if n <= max_rows:
        return [(c, v) for c, v in reversed(hist)], 0, 0
    rows = max(1, max_rows - 2)  # a line each for what is hidden above and below

    def index_of(p: float) -> Optional[int]:
        if not fmt.is_num(p):
            return None
        return min(range(n), key=lambda i: abs(hist[i][0] - p))

    i_last, i_poc = index_of(last), index_of(poc)
    if keep_top is not None and i_last is not None:
        top = index_of(keep_top)
        if top is not None and abs(hist[top][0] - keep_top) < half:
            lo = top - rows + 1
            if 0 <= lo and lo + 1 <= i_last <= top - 1:
                return [(c, v) for c, v in reversed(hist[lo:top + 1])], n - top - 1, lo
    anchors = [i for i in (i_last, i_poc) if i is not None]
    if not anchors:
        centre = n // 2
    elif len(anchors) == 2 and abs(anchors[0] - anchors[1]) < rows:
        centre = (anchors[0] + anchors[1]) // 2
    else:
        centre = anchors[0]
    lo = max(0, min(n - rows, centre - rows // 2))
    hi = lo + rows
    window = [(c, v) for c, v in reversed(hist[lo:hi])]
    return window, n - hi, lo


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
