"""A yes/no confirmation for actions a trader must not trigger by accident:
entering AUTO, flatten, cancel all, quitting with open positions.

``y`` / Enter confirms, ``n`` / Escape cancels. The default button is "No", so a
stray Enter from an earlier keypress cannot move money."""
from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", priority=True),
        Binding("n,escape", "answer(False)", "No", priority=True),
    ]

    def __init__(self, title: str, message: str, *, yes: str = "Yes", danger: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.message = message
        self.yes_label = yes
        self.danger = danger
        self._styled_for: tuple = ()  # the CSS and App classes this dialog was last styled for

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="-danger" if self.danger else ""):
            yield Label(self.title_text, id="confirm-title")
            yield Static(self.message, id="confirm-message")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes_label} (y)", id="confirm-yes", variant="error" if self.danger else "primary")
                yield Button("No (n / Esc)", id="confirm-no")

    def on_mount(self) -> None:
        box = self.query_one("#confirm-box")
        box.border_subtitle = "y yes · n / Esc no"  # still readable when a tiny terminal cuts the buttons
        self.call_after_refresh(box.scroll_home, animate=False)  # a tiny terminal: the title stays in view

    def ask(self, title: str, message: str, yes: str = "Yes") -> None:
        """Reuse this dialog for a new question (the app installs each one once)."""
        self.title_text, self.message, self.yes_label = title, message, yes
        if self.is_mounted:
            self.query_one("#confirm-title", Label).update(title)
            self.query_one("#confirm-message", Static).update(message)
            self.query_one("#confirm-yes", Button).label = f"{yes} (y)"

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """Shown again (Textual's own resume handler runs after this one).

        "No" has the focus every time the dialog is shown, so a stray Enter cannot move
        money. Textual restyles a screen each time it is shown; a confirmation is
        installed once and shown again and again (cockpit/app.py ``_confirm``), and its
        styles are those of the current CSS unless the CSS or the App's classes changed
        since it was last styled (a theme switch). Otherwise the restyle is skipped:
        every style property of every node set again, ~160 repaint requests, inside the
        money key's wait (`cockpit bench ui`: F, C, f)."""
        app = self.app
        styled_for = (app._css_update_count, tuple(sorted(app.classes)), tuple(sorted(app.get_pseudo_classes())))
        if event.refresh_styles and styled_for == self._styled_for:
            event.refresh_styles = False
        self._styled_for = styled_for
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
