"""The keys line at the bottom of the screen: each shown key and what it does, and
a notice slot at its start for a key's short answer ("nothing to flatten ...").

Why not Textual's Footer: it re-mounts one widget per key whenever focus or the
screen changes, i.e. on every confirmation a money key opens and closes. Under
load that was tens of ms in the key's own frame plus thousands of short-lived
objects in reference cycles, whose full garbage collections (100-360 ms each,
measured with `cockpit bench ui`, sim5-max) stopped every key behind them. The
cockpit's keys do not change while it runs (remapping is read at start), so this
is one line drawn once, in the Footer's colours, and redrawn only when the theme
changes or a notice comes and goes. A click on a key runs its action, as in the
Footer.

Why a notice slot and not a toast: a toast is a widget mounted, laid out, animated
and removed (f's "nothing to flatten" took p50 81-158 ms, p99 ~300 ms on the loaded
bench machine); the notice is this one line repainted, in the warning colours, where
the trader's eyes go for the keys anyway. While a notice shows, the money keys
(``urgent`` hints: F, C, f, space) follow it first, so an 80-column line still
names them; the other keys come after, cut at the edge.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from rich.style import Style
from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget

NOTICE_S = 4.0  # how long a key's answer stays on the line (as long as the toast it replaced)


@dataclass(frozen=True)
class KeyHint:
    key: str  # as shown, e.g. "spc", "+/-"
    description: str
    action: str  # the App action a click runs, e.g. "toggle_pause", "speed(1)"
    urgent: int = 0  # a money key: 1, 2, ... its place right after a notice; 0 = not one


class KeyBar(Widget):
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--notice"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
        .keybar--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
        .keybar--description { color: $footer-description-foreground; background: $footer-description-background; }
        .keybar--notice { color: #000000; background: $warning; text-style: bold; }
    }
    """

    def __init__(self, hints: list[KeyHint], **kwargs) -> None:
        super().__init__(**kwargs)
        self.hints = tuple(hints)
        self.notice = ""
        self._notice_timer: Optional[Timer] = None

    def say(self, message: str, seconds: Optional[float] = None) -> None:
        """Show ``message`` at the start of the line for ``seconds`` (NOTICE_S by
        default; the keys follow it, cut at the edge); a newer notice replaces it and
        its time."""
        self._stop_timer()
        self._notice_timer = self.set_timer(NOTICE_S if seconds is None else seconds, self._expire,
                                            name="keybar-notice")
        if message != self.notice:
            self.notice = message
            self.refresh()  # one line repainted; no layout (fixed 1 x 100%)

    def clear_notice(self) -> None:
        """Take the notice off now (its timer with it: a stale timer must not take a
        newer notice off early)."""
        self._stop_timer()
        if self.notice:
            self.notice = ""
            self.refresh()

    def _expire(self) -> None:
        self._notice_timer = None  # (this timer has fired: nothing to stop)
        self.clear_notice()

    def _stop_timer(self) -> None:
        if self._notice_timer is not None:
            self._notice_timer.stop()
            self._notice_timer = None

    def shown_hints(self) -> tuple[KeyHint, ...]:
        """In footer order; after a notice, the money keys first."""
        if not self.notice:
            return self.hints
        urgent = sorted((h for h in self.hints if h.urgent), key=lambda h: h.urgent)
        return tuple(urgent) + tuple(h for h in self.hints if not h.urgent)

    def plain(self) -> str:
        """The line as text ("a Approve r Reject ..."), what the terminal shows."""
        keys = " ".join(f"{h.key} {h.description}" for h in self.shown_hints())
        return f" {self.notice}  {keys}" if self.notice else keys

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        desc_style = self.get_component_rich_style("keybar--description")
        text = Text(no_wrap=True, overflow="crop", end="")
        if self.notice:
            text.append(f" {self.notice} ", self.get_component_rich_style("keybar--notice"))
            text.append(" ")
        for i, h in enumerate(self.shown_hints()):
            click = Style.from_meta({"@click": f"app.{h.action}"})
            if i:
                text.append(" ")
            text.append(h.key, key_style + click)
            text.append(f" {h.description}", desc_style + click)
        return text
