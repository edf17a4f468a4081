"""What the viewer's keys and wheel do, as EDFbrowser and MNE's browser bind them.

Keys: Left/Right a quarter page, PgUp/PgDn a page, Home/End, Up/Down one channel,
Shift+Up/Down a page of channels, Ctrl+Up/Down page length, +/- amplitude (1-2-5 steps), D
DC-offset removal on/off. Wheel: time; Shift+wheel: channels; Ctrl+wheel: amplitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QWheelEvent

if TYPE_CHECKING:
    from ui.viewer import SignalViewer

__all__ = ["handle_key", "handle_wheel"]

K = Qt.Key
# Keys that need no modifier test: key -> what the viewer does.
_PLAIN = {
    K.Key_Right: lambda v: v.step(0.25),
    K.Key_Left: lambda v: v.step(-0.25),
    K.Key_PageDown: lambda v: v.next_page(),
    K.Key_PageUp: lambda v: v.previous_page(),
    K.Key_Home: lambda v: v.set_page(0.0),
    K.Key_End: lambda v: v.set_page(v.max_start()),
    K.Key_Plus: lambda v: v.scale_by(0.8),
    K.Key_Equal: lambda v: v.scale_by(0.8),  # '+' without Shift on most keyboards
    K.Key_Minus: lambda v: v.scale_by(1.25),
}


def _next_length(lengths: Sequence[float], current: float, longer: bool) -> float:
    i = lengths.index(current) if current in lengths else 3
    return lengths[min(len(lengths) - 1, i + 1) if longer else max(0, i - 1)]


def handle_key(viewer: SignalViewer, event: QKeyEvent, lengths: Sequence[float]) -> bool:
    """Does what `event`'s key does to `viewer`; False for a key the viewer leaves alone."""
    key, mods = event.key(), event.modifiers()
    shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
    ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
    if key in _PLAIN:
        _PLAIN[key](viewer)
    elif key == K.Key_D and not ctrl:
        viewer.toggle_dc_removal()
    elif key in (K.Key_Up, K.Key_Down) and ctrl:
        viewer.set_page_length(_next_length(lengths, viewer.page_length, key == K.Key_Up))
    elif key in (K.Key_Up, K.Key_Down):
        sign = -1 if key == K.Key_Up else 1
        viewer.scroll_row_pages(sign) if shift else viewer.scroll_rows(sign)
    else:
        return False
    return True


def handle_wheel(viewer: SignalViewer, event: QWheelEvent) -> None:
    """Wheel: time; Shift+wheel: channels; Ctrl+wheel: amplitude."""
    delta = event.angleDelta()
    steps = (delta.y() or delta.x()) / 120.0  # some systems turn Shift+wheel sideways
    mods = event.modifiers()
    if mods & Qt.KeyboardModifier.ControlModifier:
        viewer.scale_by(0.8 if steps > 0 else 1.25)
    elif mods & Qt.KeyboardModifier.ShiftModifier:
        viewer.scroll_rows(-round(3 * steps) or (-1 if steps > 0 else 1))
    else:
        viewer.step(-0.25 * steps)
    event.accept()
