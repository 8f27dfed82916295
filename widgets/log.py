"""The journal (snapshot.journal, newest last) as an append-only log: only new
entries are written, so a busy engine costs a few lines, not a full repaint."""
from __future__ import annotations

from typing import Optional

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.strip import Strip
from textual.widgets import RichLog

from engine.model import JournalEntry

from . import format as fmt
from .base import ContainedScroll, Pane, Toned, View

LEVEL_TONE = {"error": "down", "warn": "warn", "info": None}
TONES_USED = ("muted", "accent", "strong", "warn", "down")
REWRITTEN_MIN = 8  # at least this many entries written at once (a flood); a screenful if taller


class JournalLog(ContainedScroll, Toned, RichLog):
    def recolour(self, styles: dict[Style, Style]) -> None:
        """Give the written lines new colours in place (a theme switch): each segment's
        style is swapped through ``styles``; the text, its wrapping, the order and the
        scroll position stay. Much cheaper than writing the entries again (no
        measuring, wrapping or rendering), so the theme key keeps the whole scroll-back."""
        if not styles:
            return
        self.lines = [
            Strip([Segment(text, styles.get(style, style) if style is not None else None, control)
                   for text, style, control in strip], strip.cell_length)
            for strip in self.lines
        ]
        self._line_cache.clear()  # RichLog's cache of cropped lines holds the old colours
        self.refresh()


def tone_styles(log: Toned) -> tuple[Style, ...]:
    """The log's tones (TONES_USED order) in the active theme."""
    return tuple(log.tone(t) for t in TONES_USED)


def _written_styles(look: tuple[Style, ...]) -> list[Style]:
    """Every style ``LogPane`` writes segments in, from its tones: each tone, and each
    level's tone with ``strong`` (the level word). Same order for any theme."""
    tones = dict(zip(TONES_USED, look))
    levels = [tones[t] if t else Style() for t in LEVEL_TONE.values()]
    return list(look) + [level + tones["strong"] for level in levels]


def restyle_map(old: tuple[Style, ...], new: tuple[Style, ...]) -> dict[Style, Style]:
    """Old theme's style -> new theme's, for ``JournalLog.recolour``. Should two tones
    look alike in the old theme, the first wins (tests check the shipped themes keep
    them apart)."""
    out: dict[Style, Style] = {}
    for before, after in zip(_written_styles(old), _written_styles(new)):
        out.setdefault(before, after)
    return {k: v for k, v in out.items() if k != v}


def new_entries(journal: tuple[JournalEntry, ...], last_seen: Optional[JournalEntry]) -> tuple[JournalEntry, ...]:
    """Entries after ``last_seen`` (by identity, then equality); all of them if it rolled off."""
    if last_seen is None:
        return journal
    for i in range(len(journal) - 1, -1, -1):
        if journal[i] is last_seen:
            return journal[i + 1 :]
    for i in range(len(journal) - 1, -1, -1):
        if journal[i] == last_seen:
            return journal[i + 1 :]
    return journal


def repeats_kind(e: JournalEntry) -> bool:
    """The message already starts with its kind ("mode SEMI -> AUTO", "feed finished",
    "blocked: ..."): the kind label would say it twice."""
    first = e.message.split(" ", 1)[0].lower()
    return bool(first) and first.startswith(e.kind.lower())


class LogPane(Pane):
    def __init__(self) -> None:
        super().__init__("Log", id="log", page="log")
        self._last: Optional[JournalEntry] = None
        self._look: Optional[tuple] = None  # the tones the written lines were styled with

    def compose(self) -> ComposeResult:
        yield JournalLog(id="log-view", max_lines=1000, wrap=True, min_width=20, markup=False, highlight=False, auto_scroll=True)

    def apply(self, view: View, force: bool = False) -> None:
        log = self.query_one(JournalLog)
        look = tone_styles(log) if force or self._look is None else self._look
        if look != self._look and self._look is not None:
            # a new theme: the written lines carry the old theme's colours; they are
            # recoloured in place, all of them, so the scroll-back survives the switch
            # (writing them again, up to 1000 wrapped lines, would be most of the theme
            # key's time; writing only a screenful lost the rest)
            log.recolour(restyle_map(self._look, look))
        fresh = new_entries(view.snap.journal, self._last)
        self._look = look
        if not fresh:
            return
        self._last = fresh[-1]
        # a flood (max speed: dozens of entries a poll) is written a screenful at a time:
        # the lines that would scroll past unseen cost as much to wrap and draw as the
        # rest of the poll (measured with `cockpit bench ui`, sim5-max); they are said
        # to be skipped, and the journal in the store has them all
        cap = max(REWRITTEN_MIN, log.size.height)
        if len(fresh) > cap:
            log.write(Text(f"… {len(fresh) - cap} more entries (in the journal)", style=log.tone("muted")))
            fresh = fresh[-cap:]
        for e in fresh:
            t = Text()
            t.append(fmt.et(e.ts_ns, tz=view.tz) + " ", style=log.tone("muted"))
            if e.level != "info":
                t.append(f"{e.level.upper()} ", style=log.tone(LEVEL_TONE.get(e.level)) + log.tone("strong"))
            if not repeats_kind(e):
                t.append(f"{e.kind} ", style=log.tone("accent"))
            if e.symbol and e.symbol not in e.message:
                t.append(f"{e.symbol} ", style=log.tone("strong"))
            t.append(e.message, style=log.tone(LEVEL_TONE.get(e.level)))
            log.write(t)
