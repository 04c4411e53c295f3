"""Arrays a session's click makes again on every click, kept from one click to the next.

At 10^6 events a click writes about 150 MB of (N,) and (N, C) arrays: its answer (scores,
probabilities, predicted class, confidence), the right-hand side kept for the next warm
start, and temporaries. Memory the allocator has handed back to the system faults again
page by page when it is next written, and on the benchmark VM (transparent huge pages,
which numpy asks for on large arrays) such a click took 0.15-0.6 s more thread CPU than one
that found its memory mapped (1,700-17,000 minor page faults against about 10).

Inside :meth:`Buffers.active` (the session's click, on the calling thread only),
:func:`empty`, :func:`zeros` and :func:`full` hand out a kept array of that shape and dtype
that nothing else refers to any more, else a new one; elsewhere they are ``np.empty`` and
co. Reuse is invisible: an array is taken again only when no object refers to it or to a
view of it (numpy views refer to the array owning the memory), so the result the dock still
shows, or anything a caller kept, is never written over; the click after it gets another.
:meth:`Buffers.top_up` then makes, outside the click, the spares the next click will need
(the first clicks after opening would otherwise map them).

**What "nothing refers to it" rests on.** The pool reads ``sys.getrefcount`` of each kept
array; the count of an array only the pool's list holds is measured at import
(``_UNHELD``), not assumed. This is right as long as

1. everything that can reach a kept array's memory holds a counted reference to that array
   object: numpy views (``base`` is the owning array), buffer exports (``memoryview``,
   ``np.frombuffer``: the export holds it), containers, sparse matrices and frames do. What
   would not: a raw address (``arr.ctypes.data``, ``__array_interface__``) kept by C code
   past the call that got it. Nothing in this package does that with a click's arrays, which
   leave the click only as the session's and its Propagation's attributes (the dock copies
   what it draws);
2. an array nothing else refers to cannot be reached by another thread, so no thread can
   take a reference between the count and the reuse (it would need one already, which
   the count sees);
3. ``sys.getrefcount`` counts, inside ``_free``, the pool's own references exactly as at
   import. An interpreter where it does not (reference counts deferred or borrowed
   differently, a replaced ``sys.getrefcount``) is caught at import by
   :func:`refcounts_tell` on a probe array (free alone; held, or held through a view:
   not free). If it fails, ``REUSE`` is False: the pool keeps nothing and every call
   makes a new array (slower clicks at 10^6 events, never wrong results).

Explicit ownership (the session handing arrays back) was not used: the dock reads the last
click's arrays on the GUI thread while the next click runs, so only the references tell
when the GUI is done with them.
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Iterator

import numpy as np

#: At most this many arrays of one shape and dtype are kept (arrays callers hold are not
#: reused, so this bounds what a caller keeping every result costs).
KEEP = 6

_ACTIVE = threading.local()
# The reference count of an array only the pool's list refers to, as seen by ``_free``
# (calibrated, not assumed: interpreters count a call's own references differently).
_PROBE = [np.empty(0)]
_UNHELD = sys.getrefcount(_PROBE[0])


def _free(kept: list, i: int) -> bool:
    return sys.getrefcount(kept[i]) <= _UNHELD


def refcounts_tell() -> bool:
    """True when ``_free`` tells, on this interpreter, an array only a pool's list holds
    (free) from one something else refers to, directly or through a view (not free): the
    pool's assumption 3 (module docstring), checked once at import into ``REUSE``."""
    kept = [np.empty(8)]
    alone = _free(kept, 0)
    held = kept[0]
    seen_held = _free(kept, 0)
    view = held[2:]
    del held
    seen_view = _free(kept, 0)
    del view
    return alone and not seen_held and not seen_view and _free(kept, 0)


#: False when :func:`refcounts_tell` failed at import: nothing is kept or reused.
REUSE = refcounts_tell()


class Buffers:
    """Kept arrays, by (shape, dtype); see the module docstring."""

    def __init__(self) -> None:
        self._kept: dict[tuple, list[np.ndarray]] = {}
        self._taken: dict[tuple, set] = {}   # per key, the arrays the last click took (ids)
        self._lock = threading.Lock()

    @contextmanager
    def active(self) -> Iterator[Buffers]:
        """Within this block, on this thread, :func:`empty` and co. take from this pool."""
        before = getattr(_ACTIVE, "pool", None)
        with self._lock:
            self._taken.clear()
        _ACTIVE.pool = self
        try:
            yield self
        finally:
            _ACTIVE.pool = before

    def take(self, shape, dtype) -> np.ndarray:
        """A kept array of ``shape`` and ``dtype`` nothing else refers to, or a new one
        (kept while fewer than ``KEEP`` are); its contents are arbitrary."""
        key = (tuple(np.atleast_1d(shape).tolist()), np.dtype(dtype).str)
        if not REUSE:
            return np.empty(key[0], dtype=key[1])
        with self._lock:
            taken = self._taken.setdefault(key, set())
            kept = self._kept.setdefault(key, [])
            for i in range(len(kept)):
                if _free(kept, i):
                    taken.add(id(kept[i]))
                    return kept[i]
            arr = np.empty(key[0], dtype=key[1])
            taken.add(id(arr))
            if len(kept) < KEEP:
                kept.append(arr)
            return arr

    def top_up(self) -> int:
        """Give every shape the last click took as many free arrays as it took, made and
        written once here (its pages mapped now, not in the next click); drop the arrays of
        shapes it did not take (the classes changed). Returns the number of arrays made."""
        made = 0
        with self._lock:
            for key in [k for k in self._kept if k not in self._taken]:
                del self._kept[key]
            for key, taken in self._taken.items():
                kept = self._kept.setdefault(key, [])
                free = sum(_free(kept, i) for i in range(len(kept)))
                for _ in range(min(len(taken) - free, KEEP - len(kept))):
                    kept.append(np.empty(key[0], dtype=key[1]))
                    kept[-1].fill(0)    # its pages mapped here, not in the next click
                    made += 1
        return made

    def nbytes(self) -> int:
        """Bytes of every kept array (held by callers or free)."""
        with self._lock:
            return sum(a.nbytes for kept in self._kept.values() for a in kept)


def empty(shape, dtype=np.float64) -> np.ndarray:
    """``np.empty(shape, dtype)``, from the active :class:`Buffers` if there is one."""
    pool = getattr(_ACTIVE, "pool", None)
    return np.empty(shape, dtype=dtype) if pool is None else pool.take(shape, dtype)


def zeros(shape, dtype=np.float64) -> np.ndarray:
    """``np.zeros(shape, dtype)``, from the active :class:`Buffers` if there is one."""
    pool = getattr(_ACTIVE, "pool", None)
    if pool is None:
        return np.zeros(shape, dtype=dtype)
    out = pool.take(shape, dtype)
    out.fill(0)
    return out


def full(shape, value, dtype) -> np.ndarray:
    """``np.full(shape, value, dtype)``, from the active :class:`Buffers` if there is one."""
    out = empty(shape, dtype)
    out.fill(value)
    return out
