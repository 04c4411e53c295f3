"""The words the dock shows about an event: hover text, tile captions, the viewer overlay.

Functions of the dock's state (its session, class palette and event table); nothing here
changes anything.
"""
from __future__ import annotations

import time

from pyqtgraph.Qt import QtGui

GREY = QtGui.QColor(160, 160, 160)
CAPTION_TEXT = QtGui.QColor(220, 220, 220)


def class_name(dock, k: int) -> str:
    """Name of class ``k`` in the dock's palette, "–" for none."""
    classes = dock.class_palette.classes
    return classes[k] if 0 <= k < len(classes) else "–"


def who_when(session, row: int) -> str | None:
    """"by USER, DATE TIME" of the last action that set ``row``'s user label, None if none.

    Scans the log from its end (hover asks for one row at a time; the log is in memory).
    """
    actions = session.log.actions
    for a in reversed(actions):
        if a.kind in ("note",) or len(a.rows) == 0:
            continue
        if (a.rows == row).any():
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(a.time))
            return f"{a.kind} by {a.user}, {when}"
    return None


def describe(dock, row: int) -> str:
    """Hover text: run, event, label (who, when), prediction and confidence."""
    ev = dock.events[row]
    user, pred, conf = dock.label_of(row)
    text = f"run {int(ev['run'])} · event {int(ev['event'])} (row {row})"
    text += f"\nyour label: {class_name(dock, user) if user >= 0 else 'none'}"
    if user >= 0 and dock.session is not None:
        by = who_when(dock.session, row)
        if by:
            text += f" ({by})"
    if pred >= 0:
        text += f"\npredicted: {class_name(dock, pred)} (confidence {conf:.2f})"
    note = dock.review_note(row) if user >= 0 else None
    if note is not None:
        text += f"\nto review: the others say {note}"
    return text


def caption(dock, row: int) -> list:
    """Two ``(text, QColor)`` lines under a tile: the event, then your label or else the
    prediction with its confidence, in the class colour."""
    ev = dock.events[row]
    user, pred, conf = dock.label_of(row)
    pal = dock.class_palette
    note = dock.review_note(row) if user >= 0 else None
    if note is not None:
        label = (f"{class_name(dock, user)}? {note}", pal.qcolor(user))
    elif user >= 0:
        label = (f"yours: {class_name(dock, user)}", pal.qcolor(user))
    elif pred >= 0:
        label = (f"{conf:.2f} {class_name(dock, pred)}", pal.qcolor(pred))
    else:
        label = ("unlabelled", GREY)
    return [(f"run {int(ev['run'])} #{int(ev['event'])}", CAPTION_TEXT), label]


def overlay_text(dock) -> tuple[str, QtGui.QColor | None]:
    """What the viewer overlay says about the current event, and in which colour."""
    row = dock.current_row
    if dock.session is None:
        return "", None
    if row is None:
        return "not on the manifold", GREY
    user, pred, conf = dock.label_of(row)
    pal = dock.class_palette
    if user >= 0:
        return f"{class_name(dock, user)} (yours)", pal.qcolor(user)
    if pred >= 0:
        return f"{class_name(dock, pred)} {conf:.2f} (predicted)", pal.qcolor(pred)
    return "unlabelled", GREY
