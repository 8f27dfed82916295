"""Key bindings: the defaults, and the trader's remapping from ``[ui.keys]``.

Every action has a stable binding id (the name used in cockpit.toml, e.g.
``flatten_all = "ctrl+x"``). Remapping goes through Textual's keymap, so the
footer and the help screen always show the keys that actually work. Flatten,
cancel and pause are priority bindings: they fire whatever widget has focus; so are
the symbol keys (the digits, j and k), so that "3f" or "jf" acts on the symbol just
picked (see ``bindings``).

``ctrl+q`` and ``ctrl+c`` always quit the way ``q`` does (asking first when
positions or orders are open), whatever ``quit`` is remapped to: they are what a
trader presses by reflex, so they cannot be given to another action.
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from engine.config import ConfigError
from widgets.keybar import KeyHint


@dataclass(frozen=True)
class KeyAction:
    id: str  # the name in [ui.keys]
    key: str  # default key (Textual key name; comma-separated for alternatives)
    action: str  # the App action it runs
    description: str
    priority: bool = False
    show: bool = True  # in the footer
    key_display: str | None = None  # short footer label for the key
    # shown at the footer's end, after help and quit: at 80 columns the footer is cut
    # there (the compact layout's page bar shows these keys instead)
    footer_last: bool = False


KEY_ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("approve", "a", "approve", "Approve"),
    KeyAction("reject", "r", "reject", "Reject"),
    KeyAction("cycle_mode", "m", "cycle_mode", "Mode"),
    KeyAction("pause", "space", "toggle_pause", "Pause", priority=True, key_display="spc"),
    KeyAction("pause_feed", "p", "toggle_feed_pause", "Feed", footer_last=True),
    KeyAction("flatten_all", "F", "flatten_all", "Flat all", priority=True),
    KeyAction("cancel_all", "C", "cancel_all", "Cancel", priority=True),
    KeyAction("flatten_symbol", "f", "flatten_symbol", "Flat sym", priority=True),
    # priority like the digits (see ``bindings``): "jf" in one read flattens the symbol j moved to
    KeyAction("next_symbol", "j", "move_symbol(1)", "Next sym", priority=True, show=False),
    KeyAction("prev_symbol", "k", "move_symbol(-1)", "Prev sym", priority=True, show=False),
    # the footer's one entry for both speed keys ("+/- Speed"); both work
    KeyAction("faster", "plus", "speed(1)", "Speed", key_display="+/-", footer_last=True),
    KeyAction("slower", "minus", "speed(-1)", "Slower", show=False),
    KeyAction("next_page", "right_square_bracket", "page(1)", "Next pane", show=False),
    KeyAction("prev_page", "left_square_bracket", "page(-1)", "Prev pane", show=False),
    KeyAction("trades", "T", "toggle_trades", "Trades", show=False),  # in the page bar and the help; the 80-column footer is full
    KeyAction("theme", "t", "cycle_theme", "Theme", show=False),
    KeyAction("help", "question_mark", "help", "Help"),
    KeyAction("quit", "q", "request_quit", "Quit"),
)
ACTION_IDS = tuple(a.id for a in KEY_ACTIONS)
# the money keys, in the order the key bar names them right after a notice (widgets/keybar.py)
URGENT_AFTER_NOTICE = {"flatten_all": 1, "cancel_all": 2, "flatten_symbol": 3, "pause": 4}
REFLEX_QUIT_KEYS = ("ctrl+q", "ctrl+c")  # quit like q, not remappable
SYMBOL_KEYS = tuple(str(i) for i in range(1, 10))


def bindings() -> list[Binding]:
    """The App's BINDINGS: the defaults, each with its id for remapping."""
    in_footer_order = sorted(KEY_ACTIONS, key=lambda a: a.footer_last)  # (stable: the rest keep their order)
    out = [
        Binding(a.key, a.action, a.description, show=a.show, priority=a.priority, id=a.id, key_display=a.key_display)
        for a in in_footer_order
    ]
    # priority like the money keys: a burst such as "3f" (one read in a terminal) is
    # then handled in key order at the App. As a plain binding the digit went through
    # the focused table's queue first and came back after f had already acted on the
    # previous symbol. (No widget or dialog uses the digits, j or k; behind a dialog they
    # do nothing: CockpitApp._select.)
    out += [Binding(k, f"pick_symbol({int(k) - 1})", f"Symbol {k}", show=False, priority=True) for k in SYMBOL_KEYS]
    out += [Binding(k, f"request_quit('{k}')", "Quit", show=False, priority=True) for k in REFLEX_QUIT_KEYS]
    return out


def key_hints(keys: dict[str, str]) -> list[KeyHint]:
    """The bottom line's keys (widgets/keybar.py), in footer order, as remapped:
    ``keys`` is ``effective_keys(...)``."""
    out = []
    for a in sorted(KEY_ACTIONS, key=lambda a: a.footer_last):
        if not a.show:
            continue
        remapped = keys.get(a.id, a.key) != a.key
        label = display_key(keys.get(a.id, a.key))
        if a.id == "faster":
            label = "+/-" if not remapped and keys.get("slower") == "minus" else \
                f"{label}/{display_key(keys.get('slower', 'minus'))}"
        elif a.key_display and not remapped:
            label = a.key_display
        out.append(KeyHint(label, a.description, a.action, urgent=URGENT_AFTER_NOTICE.get(a.id, 0)))
    return out


def resolve_keymap(overrides: dict[str, str]) -> dict[str, str]:
    """Validate ``[ui.keys]`` (action -> key) and return the keymap for ``App.set_keymap``.

    Raises ConfigError naming the unknown action or the key used twice."""
    keymap: dict[str, str] = {}
    for action, key in overrides.items():
        if action not in ACTION_IDS:
            raise ConfigError(f"ui.keys: unknown action {action!r}; valid actions: {', '.join(ACTION_IDS)}")
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"ui.keys.{action} = {key!r} is not a key name (e.g. \"x\", \"ctrl+x\", \"F\")")
        keymap[action] = key.strip()
    effective = effective_keys(keymap)
    seen: dict[str, str] = {}
    for action_id, key in effective.items():
        for k in key.split(","):
            if k in seen and seen[k] != action_id:
                raise ConfigError(f"ui.keys: key {k!r} is bound to both {seen[k]!r} and {action_id!r}")
            seen[k] = action_id
        if any(k in SYMBOL_KEYS for k in key.split(",")):
            raise ConfigError(f"ui.keys.{action_id} = {key!r}: keys 1-9 pick symbols")
        if action_id != "quit" and any(k in REFLEX_QUIT_KEYS for k in key.split(",")):
            raise ConfigError(f"ui.keys.{action_id} = {key!r}: ctrl+q and ctrl+c always quit (asking first)")
    return keymap


def effective_keys(keymap: dict[str, str]) -> dict[str, str]:
    """action id -> the key that triggers it after remapping."""
    return {a.id: keymap.get(a.id, a.key) for a in KEY_ACTIONS}


KEY_DISPLAY = {
    "space": "space",
    "plus": "+",
    "minus": "-",
    "question_mark": "?",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}


def display_key(key: str) -> str:
    return " / ".join(KEY_DISPLAY.get(k, k) for k in key.split(","))
