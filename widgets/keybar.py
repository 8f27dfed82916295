"""The keys line at the bottom of the screen: each shown key and what it does.

Why not Textual's Footer: it re-mounts one widget per key whenever focus or the
screen changes, i.e. on every confirmation a money key opens and closes. Under
load that was tens of ms in the key's own frame plus thousands of short-lived
objects in reference cycles, whose full garbage collections (100-360 ms each,
measured with `cockpit bench ui`, sim5-max) stopped every key behind them. The
cockpit's keys do not change while it runs (remapping is read at start), so this
is one line drawn once, in the Footer's colours, and redrawn only when the theme
changes. A click on a key runs its action, as in the Footer.
"""
from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widget import Widget


@dataclass(frozen=True)
class KeyHint:
    key: str  # as shown, e.g. "spc", "+/-"
    description: str
    action: str  # the App action a click runs, e.g. "toggle_pause", "speed(1)"


class KeyBar(Widget):
    COMPONENT_CLASSES = {"keybar--key", "keybar--description"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
        .keybar--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
        .keybar--description { color: $footer-description-foreground; background: $footer-description-background; }
    }
    """

    def __init__(self, hints: list[KeyHint], **kwargs) -> None:
        super().__init__(**kwargs)
        self.hints = tuple(hints)

    def plain(self) -> str:
        """The line as text ("a Approve r Reject ..."), what the terminal shows."""
        return " ".join(f"{h.key} {h.description}" for h in self.hints)

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        desc_style = self.get_component_rich_style("keybar--description")
        text = Text(no_wrap=True, overflow="crop", end="")
        for i, h in enumerate(self.hints):
            click = Style.from_meta({"@click": f"app.{h.action}"})
            if i:
                text.append(" ")
            text.append(h.key, key_style + click)
            text.append(f" {h.description}", desc_style + click)
        return text
