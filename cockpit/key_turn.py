"""When a key's turn may end: once what the key changed is on the screen.

A key's turn (cockpit/app.py, INPUT_FIRST_S) holds the replay's data and the
snapshot polls back until the frame that shows the key's action. Textual's
``call_after_refresh`` is not that frame: a widget's repaint request travels
through two message queues (the widget's idle check posts an Update to the screen,
the screen's timer draws it), and the screen runs the after-refresh callbacks at
once when it is idle with nothing dirty *yet*. Under load the callback often won
that race: the turn ended before the key's frame, the engine ran and a polled
snapshot was applied, and the key's frame came after the panes' big repaint
(`cockpit bench ui`, sim5-max: f and space at 120-175 ms, twice their usual).

``effect_pending`` says whether anything is still on its way to the screen: a
widget with a repaint, layout or restyle to ask for, a message queued for the
screen (an Update or Layout request; the ScreenResume of a dialog just pushed, which
asks for its first frame), or a screen with dirty widgets or a layout to do. The app ends the turn
only when nothing is (or at INPUT_FIRST_S). Textual internals are read here and
only here (Textual 8: ``_repaint_required``, ``_layout_required``,
``_refresh_styles_required``, ``_dirty_widgets``, the screen's message queue).
"""
from __future__ import annotations

from textual import messages
from textual.app import App

_NOTHING_TO_DRAW = (messages.Prompt, messages.InvokeLater)  # a wake-up; an after-refresh callback


def effect_pending(app: App) -> bool:
    screen = app.screen
    if screen._dirty_widgets or screen._layout_required or screen._repaint_required:
        return True
    queue = screen._message_queue
    queued = getattr(queue, "values", None)  # (textual._queue.Queue's deque)
    if queued is None:
        if not queue.empty():  # (another queue: whatever is queued may be on its way)
            return True
    elif any(m is not None and not isinstance(m, _NOTHING_TO_DRAW) for m in queued):
        return True  # an Update / Layout on its way, a just-pushed dialog's ScreenResume, ...
    return any(w._repaint_required or w._layout_required or w._refresh_styles_required
               for w in screen.walk_children(with_self=False))
