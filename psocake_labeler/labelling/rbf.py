"""A kernel classifier for the blend, used once the labelled set supports it.

With a few dozen labels the blend's linear classifier is as good as any (an RBF model is no
better on 75 labels), but with hundreds it is not. So from ``MIN_LABELS`` labels on, on
runs of at most ``MAX_EVENTS`` events, the blend (``blend.classifier_part``) gives its
logistic regression the inputs with a Nystroem map appended (:func:`kernel_map`: an RBF
kernel to ``LANDMARKS`` events of the run, whitened). On five classes, 6000-hit runs, 300
labels (5%), three runs x two cold starts: 0.932 against 0.927, Unknown recall 0.72
against 0.70, better on each of the six curves (docs/propagation.md).

The map is made once, on the first click with ``MIN_LABELS`` labels, and kept with the
classifier's calibration in the session's last result (N x (d + ``LANDMARKS``) float32).
Measured (scratch, 54 inputs, classifier half of a click; quiet, load 1.5): that first
click costs 0.40 s CPU at 2 x 10^4 events (linear 0.12), 0.64 s at 5 x 10^4, 1.5 s at
10^5 and 7.2 s at 10^6; the clicks after it 0.04 s at 2 x 10^4 (linear 0.02), 0.08-0.11 s
at 10^5 (0.03-0.05) and 0.27-0.30 s at 10^6 (0.07-0.09). So only runs of up to ``MAX_EVENTS`` events
use it; larger runs keep the linear model and its cost.

Choosing per click by the labelled events' held-out error rate was measured and is not
done: on 200-300 labels the two records tie or flip by chance.
"""
from __future__ import annotations

import numpy as np

#: Fewest labels before the kernel map is used (below, the linear model is as good).
MIN_LABELS = 200
#: Largest run whose kernel map is made and kept (its size: N x (d + LANDMARKS) float32).
MAX_EVENTS = 20_000
#: Landmarks of the Nystroem map, and the RBF width: exp(-GAMMA / d |x - y|^2) on inputs
#: standardised per column (d of them).
LANDMARKS = 200
GAMMA = 0.3
#: Events per block of the map (two float32 buffers of BLOCK x LANDMARKS: 6.5 MB each).
BLOCK = 8192


def kernel_map(x: np.ndarray, landmarks: int = LANDMARKS, gamma: float = GAMMA,
               seed: int = 0) -> np.ndarray:
    """(N, d + m) float32: ``x`` with a whitened Nystroem map appended (RBF kernel to m
    random events of ``x``, m = min(``landmarks``, N); the map standardised per column).

    The kernel is one float32 product, |x|^2 - 2 x.l + |l|^2, then one more for the
    whitening, in blocks of ``BLOCK`` events.
    """
    from scipy.linalg import eigh

    from .columns import blocks
    from .products import one_blas_thread

    x = np.asarray(x, dtype=np.float32)
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = x.std(axis=0, dtype=np.float64).astype(np.float32) + np.float32(1e-6)
    pick = np.random.default_rng(seed).choice(len(x), min(landmarks, len(x)), replace=False)
    lm = (x[np.sort(pick)] - mean) / std
    g = np.float32(gamma / x.shape[1])
    sq_l = (lm * lm).sum(axis=1)
    out = np.empty((len(x), x.shape[1] + lm.shape[0]), dtype=np.float32)
    out[:, :x.shape[1]] = x
    # One BLAS thread: on a busy machine a threaded eigh of 200 x 200 took 0.4 s, not 0.01.
    with one_blas_thread():
        k_ll = np.exp(-g * np.maximum(sq_l[:, None] + sq_l[None, :] - 2.0 * lm @ lm.T, 0.0))
        # K_ll^(-1/2) (symmetric: one column per landmark), small eigenvalues left out: the
        # map's inner products approximate the kernel.
        w, v = eigh(k_ll.astype(np.float64))
        keep = w > 1e-6 * w.max()
        whiten = ((v[:, keep] / np.sqrt(w[keep])) @ v[:, keep].T).astype(np.float32)
        # Blocks with their buffers made once: fresh 50 MB temporaries per block cost more
        # in page faults than the products themselves.
        lt = np.ascontiguousarray(lm.T)
        k = np.empty((BLOCK, lm.shape[0]), dtype=np.float32)
        m = np.empty_like(k)
        for s in blocks(len(x), BLOCK):
            xs = (x[s] - mean) / std
            b = len(xs)
            np.matmul(xs, lt, out=k[:b])
            k[:b] *= np.float32(-2.0)
            k[:b] += (xs * xs).sum(axis=1)[:, None]
            k[:b] += sq_l[None, :]
            np.maximum(k[:b], 0.0, out=k[:b])
            k[:b] *= -g
            np.exp(k[:b], out=k[:b])
            np.matmul(k[:b], whiten, out=m[:b])
            out[s, x.shape[1]:] = m[:b]
    phi = out[:, x.shape[1]:]
    phi -= phi.mean(axis=0, dtype=np.float64).astype(np.float32)
    phi /= phi.std(axis=0, dtype=np.float64).astype(np.float32) + np.float32(1e-6)
    return out


def kernel_applies(n_labels: int, n_events: int) -> bool:
    """Whether the classifier reads the kernel map: ``MIN_LABELS`` labels or more, on a run
    of at most ``MAX_EVENTS`` events."""
    return n_labels >= MIN_LABELS and n_events <= MAX_EVENTS
