"""The smallest terminal the cockpit draws panes in, and what it says below it:
the header's badges stay (mode, broker, Day P&L), the panes give way to a notice
that names the size needed and the money keys, which still work."""
from __future__ import annotations

from .keys import display_key

MIN_SIZE = (60, 18)


def is_too_small(width: int, height: int) -> bool:
    return width < MIN_SIZE[0] or height < MIN_SIZE[1]


def notice(width: int, height: int, keys: dict[str, str], full: tuple[int, int]) -> str:
    return (f"terminal too small: {width}x{height}, need {MIN_SIZE[0]}x{MIN_SIZE[1]}\n"
            f"(the full dashboard needs {full[0]}x{full[1]})\n\n"
            f"money keys still work: {display_key(keys['flatten_all'])} flatten all · "
            f"{display_key(keys['cancel_all'])} cancel all · {display_key(keys['pause'])} pause entries · "
            f"{display_key(keys['quit'])} quit")
