"""Adding, renaming, recolouring and removing classes of a labelling session."""
from __future__ import annotations

import numpy as np

from .classes import ConfirmRequiredError


class ClassEditing:
    """The class-list methods of :class:`~psocake_labeler.labelling.session.LabelSession`.

    Each edit goes through the session's action log (so it is saved, undone and merged like
    a label) inside one store transaction, after the class changes other writers made;
    removing a class that holds labels needs ``confirm=True``.
    """

    def add_class(self, name: str, colour: str | None = None) -> int:
        """Add a class at the end; returns its index."""
        def add(base):
            cls = self._d.classes.add(name, colour)
            self._d.class_history[cls.id] = cls.name
            self._reset_predictions()
            return self._d.log.record("note", self.user, [], -1, f"add {name}", base=base)

        self._change(add)
        return len(self._d.classes) - 1

    def rename_class(self, old: str, new: str) -> None:
        """Rename a class; its labels keep it."""
        def rename(base):
            cid = self._d.classes.id_of(old)
            self._d.classes.rename(old, new)
            self._d.class_history[cid] = new
            return self._d.log.record("note", self.user, [], -1, f"rename {old} -> {new}",
                                      base=base)

        self._change(rename)

    def remove_class(self, name: str, confirm: bool = False) -> int:
        """Remove a class. If it holds labels they go with it, but only with ``confirm``.

        Returns the number of labels removed; ConfirmRequiredError (a ClassNameError)
        when labels would be dropped without ``confirm=True``.
        """
        removed = []

        def remove(base):
            cid = self._d.classes.id_of(name)
            rows = np.flatnonzero(self._d.log.labels == cid)
            if len(rows) and not confirm:
                raise ConfirmRequiredError(
                    f"class {name!r} holds {len(rows)} labels; removing it drops them: call "
                    f"remove_class({name!r}, confirm=True)")
            self._d.classes.remove(name)
            self._reset_predictions()
            removed.append(len(rows))
            return self._d.log.record("classes", self.user, rows, -1, f"remove {name}",
                                      base=base)

        self._change(remove)
        return removed[0]

    def set_colour(self, name: str, colour: str) -> None:
        """Change the colour of class ``name`` (not an action: nothing to undo)."""
        self._change(lambda base: self._d.classes.set_colour(name, colour), always=True)
