"""Label classes: names, colours and stable ids.

A class keeps its integer ``id`` for life, so that a rename does not rewrite the action log
(the log stores ids) and a removed class's id is never reused. ``index`` is the position in
the current list: what ``user_labels()`` and ``predicted`` hold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..errors import ClassNameError

DEFAULT_CLASSES = ("Single", "Multiple", "Water/Unknown")
# The colours users know from the prototype: Single red, Multiple green, Water/Unknown blue.
DEFAULT_COLOURS = {"Single": "#e41a1c", "Multiple": "#4daf4a", "Water/Unknown": "#377eb8"}
# Colours for further classes, in order (colour-blind-friendly set, none of the three above).
EXTRA_COLOURS = ("#ff7f00", "#984ea3", "#a65628", "#f781bf", "#999999", "#dede00",
                 "#17becf", "#000000")


def generated_colour(i: int) -> str:
    """The ``i``-th colour after the palette: hues a golden angle apart, three lightnesses.

    Any number of classes gets distinct colours (the palette alone holds 11).
    """
    import colorsys

    hue = (0.07 + 0.618033988749895 * i) % 1.0
    light = (0.45, 0.62, 0.32)[i % 3]
    r, g, b = colorsys.hls_to_rgb(hue, light, 0.75)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def default_colours(names: Sequence[str]) -> list[str]:
    """Colours of new classes ``names``: the known ones' own, then the palette, then
    :func:`generated_colour`, never one already taken."""
    out: list[str] = []
    for name in names:
        out.append(DEFAULT_COLOURS.get(name) or next_colour(out))
    return out


def next_colour(used: Iterable[str]) -> str:
    """The first palette colour not in ``used``, else the first unused generated one."""
    used = set(used)
    for colour in EXTRA_COLOURS:
        if colour not in used:
            return colour
    i = 0
    while generated_colour(i) in used:
        i += 1
    return generated_colour(i)


@dataclass
class LabelClass:
    """One class: ``id`` (stable), ``name`` and ``colour`` (``#rrggbb``)."""

    id: int
    name: str
    colour: str


class ClassList:
    """The ordered classes of a session."""

    def __init__(self, names: Sequence[str] = DEFAULT_CLASSES,
                 colours: Sequence[str] | None = None, ids: Sequence[int] | None = None,
                 next_id: int | None = None):
        names = list(names)
        if not names:
            raise ClassNameError("a session needs at least one class; none were given")
        ids = list(range(len(names))) if ids is None else [int(i) for i in ids]
        self._classes: list[LabelClass] = []
        for i, name in enumerate(names):
            self._check_new(name)
            colour = colours[i] if colours is not None else self._default_colour(name)
            self._classes.append(LabelClass(ids[i], str(name), str(colour)))
        self.next_id = max(ids) + 1 if next_id is None else int(next_id)

    # -- queries ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Class names in order."""
        return [c.name for c in self._classes]

    @property
    def ids(self) -> list[int]:
        """Stable ids in order."""
        return [c.id for c in self._classes]

    @property
    def colours(self) -> list[str]:
        """Colours in order."""
        return [c.colour for c in self._classes]

    def __len__(self) -> int:
        return len(self._classes)

    def __iter__(self):
        return iter(self._classes)

    def index(self, name: str) -> int:
        """Position of class ``name``; ClassNameError naming the valid ones if unknown."""
        for i, c in enumerate(self._classes):
            if c.name == name:
                return i
        raise ClassNameError(f"unknown class {name!r}; valid classes: {self._valid()}")

    def id_of(self, name: str) -> int:
        """Stable id of class ``name``."""
        return self._classes[self.index(name)].id

    def lookup(self, name: str) -> int | None:
        """Position of ``name`` ignoring case and spaces, None if absent (for imports)."""
        key = _norm(name)
        for i, c in enumerate(self._classes):
            if _norm(c.name) == key:
                return i
        return None

    def find(self, name: str) -> int:
        """Position of ``name``, ignoring case and spaces when there is no exact match.

        For names typed by a user (``--class single``); ClassNameError lists the classes.
        """
        pos = self.lookup(name) if name not in self.names else self.names.index(name)
        return self.index(name) if pos is None else pos

    # -- changes ---------------------------------------------------------------------------
    def add(self, name: str, colour: str | None = None) -> LabelClass:
        """Append a new class and return it."""
        self._check_new(name)
        cls = LabelClass(self.next_id, str(name), colour or self._next_colour())
        self.next_id += 1
        self._classes.append(cls)
        return cls

    def rename(self, old: str, new: str) -> None:
        """Rename class ``old`` to ``new`` (its id and colour stay)."""
        i = self.index(old)
        if new != old:
            self._check_new(new)
        self._classes[i].name = str(new)

    def remove(self, name: str) -> LabelClass:
        """Remove class ``name`` and return it."""
        if len(self._classes) == 1:
            raise ClassNameError(f"cannot remove {name!r}: it is the only class left")
        return self._classes.pop(self.index(name))

    def set_colour(self, name: str, colour: str) -> None:
        """Change the colour of class ``name``."""
        self._classes[self.index(name)].colour = str(colour)

    def copy(self) -> ClassList:
        """An independent copy."""
        return ClassList(self.names, self.colours, self.ids, self.next_id)

    # -- helpers ---------------------------------------------------------------------------
    def _valid(self) -> str:
        return ", ".join(repr(n) for n in self.names)

    def _check_new(self, name) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ClassNameError(f"class name {name!r} is empty or not text; give a name such "
                                 f"as 'Single'")
        if name != name.strip():
            raise ClassNameError(f"class name {name!r} starts or ends with spaces")
        if name.lower() == "unlabelled":
            raise ClassNameError("'Unlabelled' is not a class: use unlabel() instead")
        if any(c.name == name for c in getattr(self, "_classes", [])):
            raise ClassNameError(f"class {name!r} already exists; classes: {self._valid()}")

    def _default_colour(self, name: str) -> str:
        if name in DEFAULT_COLOURS:
            return DEFAULT_COLOURS[name]
        return self._next_colour()

    def _next_colour(self) -> str:
        return next_colour(c.colour for c in getattr(self, "_classes", []))


def _norm(name: str) -> str:
    return "".join(str(name).lower().split())


class ConfirmRequiredError(ClassNameError):
    """Removing a class would drop labels and the caller has not confirmed."""
