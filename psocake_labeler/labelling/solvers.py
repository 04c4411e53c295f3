"""Sparse solvers behind :mod:`psocake_labeler.labelling.propagation`.

Three graph problems, all solved with a block Jacobi-preconditioned conjugate gradient
(one CG per class column, sharing each sparse mat-vec) that can start from the previous
solution:

* label spreading (Zhou et al. 2004): ``(I - a S) F = Y``, ``S = D^-1/2 W D^-1/2``;
* harmonic / Laplace learning (Zhu et al. 2003): ``L_uu U = W_ul Y_l`` on unlabelled rows;
* Poisson learning (Calder et al. 2020): ``L U = B`` with zero-mean point sources at the
  labelled rows, one unit of source mass per class (so class scaling is a cheap
  post-multiplication, see ``propagation.balance_scales``), balanced per *piece* of the
  graph (see ``poisson_groups``), not per connected component.

Nothing here forms a dense N x N matrix.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..embedding.kernel import LINK_WEIGHT  # tells the links between graph pieces
from ..errors import ConvergenceWarning
from .links import CutLinks
from .local import local_update
from .products import SplitProduct

MatVec = Callable[[np.ndarray], np.ndarray]

#: Smallest diagonal of Poisson's Laplacian, relative to the median degree.
DEGREE_FLOOR = 0.05



@dataclass
class GraphInfo:
    """Per-graph quantities computed once and reused by warm starts."""

    n: int
    nnz: int
    degree: np.ndarray          # (N,) row sums of W
    n_components: int
    component: np.ndarray       # (N,) component id per row
    normalised: sp.csr_matrix | None = None   # D^-1/2 W D^-1/2, made on first use
    piece: np.ndarray | None = None       # (N,) piece id: component once links are cut
    links: np.ndarray | None = None       # (L, 2) piece ids joined by each link edge
    link_ends: np.ndarray | None = None   # (L, 2) the rows each of those edges joins
    product: SplitProduct | None = None   # fast product with ``normalised``, made with it

    def matches(self, graph: sp.spmatrix) -> bool:
        """Cheap check that ``graph`` is (very probably) the graph this was made from."""
        return graph.shape[0] == self.n and graph.nnz == self.nnz


def graph_info(graph: sp.csr_matrix) -> GraphInfo:
    """Degrees, connected components and link-separated pieces of a symmetric weight matrix.

    Pieces are the connected components left when the edges of weight exactly
    ``LINK_WEIGHT`` are removed; ``links`` lists the pairs of distinct pieces such edges
    join (the links ``kernel.link_components`` added), ``link_ends`` the rows they join.
    Without links, pieces are the components.
    """
    degree = np.asarray(graph.sum(axis=1)).ravel().astype(np.float64)
    n_comp, comp = connected_components(graph, directed=False)
    piece, links = comp, np.zeros((0, 2), dtype=np.int64)
    ends = links
    is_link = np.isclose(graph.data, LINK_WEIGHT, rtol=1e-9, atol=0.0)
    if is_link.any():
        cut = graph.copy()
        cut.data = np.where(is_link, 0.0, cut.data)
        cut.eliminate_zeros()
        _, piece = connected_components(cut, directed=False)
        coo = graph.tocoo()
        sel = is_link & (coo.row < coo.col)   # tocoo keeps CSR data order
        pairs = np.stack([piece[coo.row[sel]], piece[coo.col[sel]]], axis=1)
        across = pairs[:, 0] != pairs[:, 1]
        links = pairs[across].astype(np.int64)
        ends = np.stack([coo.row[sel], coo.col[sel]], axis=1)[across].astype(np.int64)
    return GraphInfo(graph.shape[0], graph.nnz, degree, int(n_comp), comp,
                     piece=np.asarray(piece, dtype=np.int64), links=links, link_ends=ends)


def poisson_groups(info: GraphInfo, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of pieces over which Poisson's sources are balanced, and the rows that count.

    A linked piece (e.g. the non-hits, joined to the hits by one weak edge) is a separate
    problem, as it was before it was linked: if its sources were balanced together with the
    rest, its net source mass would have to flow through the single link, and the resulting
    potential offsets (mass / link weight) would decide the classes everywhere. So every
    piece holding labels is its own group; a piece without labels joins a neighbouring group
    through its link (it then takes the potential at the link's far end, the only
    information that reaches it). With sources summing to zero in each group, no link
    carries flux, and the solution on the whole graph equals the per-group solutions.

    Returns ``(group (N,) int64, counted (N,) bool)``: ``counted`` marks rows of pieces with
    labels, over which each group's free constant is fixed.
    """
    piece = info.piece if info.piece is not None else info.component
    n_pieces = int(piece.max()) + 1 if piece.size else 0
    labelled = np.zeros(n_pieces, dtype=bool)
    labelled[piece[rows]] = True
    counted = labelled[piece]
    links = info.links if info.links is not None else np.zeros((0, 2), dtype=np.int64)
    if links.size == 0:
        return piece, counted
    # Union-find over the links; a merge may hold at most one labelled piece.
    parent = np.arange(n_pieces)
    n_lab = labelled.astype(np.int64)

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    changed = True
    while changed:
        changed = False
        for a, b in links:
            ra, rb = root(int(a)), root(int(b))
            if ra != rb and n_lab[ra] + n_lab[rb] <= 1:
                parent[rb] = ra
                n_lab[ra] += n_lab[rb]
                changed = True
    roots = np.array([root(i) for i in range(n_pieces)], dtype=np.int64)
    return roots[piece], counted


class _Reach:
    """Whether CG should go on past its residual target to reach more rows.

    It goes on while some row of ``reach`` is still exactly zero in every column AND that
    count fell within the last ``PATIENCE`` iterations: rows a float32 product can never
    make non-zero (kernel weights of 1e-40 at outliers) stop it instead of costing maxiter.
    """

    PATIENCE = 5

    def __init__(self, reach: np.ndarray | None) -> None:
        self.reach = reach
        self.best = -1
        self.since = 0

    def left(self, x: np.ndarray) -> int:
        return 0 if self.reach is None else int(np.count_nonzero(self.reach & ~x.any(axis=1)))

    def go_on(self, x: np.ndarray) -> bool:
        left = self.left(x)
        if left == 0:
            return False
        if self.best < 0 or left < self.best:
            self.best, self.since = left, 0
        else:
            self.since += 1
        return self.since < self.PATIENCE


def block_pcg(matvec: MatVec, b: np.ndarray, x0: np.ndarray | None, inv_diag: np.ndarray,
              tol: float = 1e-4, maxiter: int = 1000, ax0: np.ndarray | None = None,
              b0: np.ndarray | None = None, reach: np.ndarray | None = None
              ) -> tuple[np.ndarray, int, np.ndarray]:
    """Jacobi-preconditioned CG on every column of ``b`` (independent systems, same matrix).

    ``matvec`` maps (n, c') -> (n, c') column by column and must be symmetric positive
    (semi-)definite on the columns' Krylov spaces. A column stops when its residual is below
    ``tol`` times its right-hand side norm; only unconverged columns are multiplied, so after
    one new label (which changes one column of a spreading problem) a warm start costs about
    a third. ``ax0`` (the operator applied to ``x0``, kept from the last solve) saves the
    first product. ``b0``, the right-hand side ``x0`` solved, makes the target relative to
    the change of each column, down to a tenth of the cold target (one label among 10,000
    must still move the solution). ``reach`` (N,) bool: rows the solution must reach; a
    residual below target does not stop CG while one of them is still exactly zero in every
    column and CG still reaches new rows (its Krylov space has not got there: on a long chain
    a 1% residual is met ~100 hops from the labels, and everything beyond would read "cannot
    tell"); see :class:`_Reach`.
    Returns ``(x, iterations, A x)``.
    """
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=np.float64, copy=True)
    if x0 is None:
        r = b.copy()
    else:
        r = b - (ax0 if ax0 is not None else matvec(x))
    bnorm = np.linalg.norm(b, axis=0)
    # Columns that are zero up to rounding (e.g. a class alone in its component) count as
    # converged at once; a relative target on them would never be met.
    null = bnorm <= 1e-12 * max(float(bnorm.max(initial=0.0)), 1e-300)
    scale = bnorm
    if x0 is not None and b0 is not None and b0.shape == b.shape:
        change = np.linalg.norm(b - b0, axis=0)
        # ...but never more than 10x tighter than a cold solve: Poisson's zero-mean sources
        # shift a little everywhere with each label, and chasing that costs many iterations.
        scale = np.where(change > 0, np.minimum(bnorm, np.maximum(change, 0.1 * bnorm)), bnorm)
    target = np.where(null, np.inf, tol * scale)
    if np.any(null):
        x[:, null] = 0.0
        r[:, null] = b[:, null]
    z = inv_diag[:, None] * r
    p = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    it = 0
    more = _Reach(reach)
    for it in range(1, maxiter + 1):
        act = np.linalg.norm(r, axis=0) > target
        if not act.any():
            if not more.go_on(x):
                return x, it - 1, b - r
            act = ~null
        pa = p[:, act]
        ap = matvec(pa)
        pap = np.einsum("ij,ij->j", pa, ap)
        # A column whose direction vanished gets a zero step rather than a division by zero.
        alpha = np.divide(rz[act], pap, out=np.zeros_like(pap), where=pap > 0)
        x[:, act] += alpha * pa
        r[:, act] -= alpha * ap
        za = inv_diag[:, None] * r[:, act]
        rz_new = np.einsum("ij,ij->j", r[:, act], za)
        beta = np.divide(rz_new, rz[act], out=np.zeros_like(rz_new), where=rz[act] > 0)
        p[:, act] = za + beta * pa
        rz[act] = rz_new
    left = np.linalg.norm(r, axis=0) > target
    if left.any():
        worst = float(np.max(np.linalg.norm(r[:, left], axis=0) / target[left])) * tol
        warnings.warn(f"conjugate gradients stopped at maxiter={maxiter} with {int(left.sum())}"
                      f" of {b.shape[1]} column(s) above tolerance (worst relative residual "
                      f"{worst:.2g}, target {tol:.2g}); predictions may be less accurate",
                      ConvergenceWarning, stacklevel=3)
    elif (gone := more.left(x)) and more.since < more.PATIENCE:
        warnings.warn(f"conjugate gradients stopped at maxiter={maxiter} before reaching "
                      f"{gone} event(s) connected to a label; they are shown as 'cannot tell'",
                      ConvergenceWarning, stacklevel=3)
    return x, it, b - r


def spreading_solve(graph: sp.csr_matrix, info: GraphInfo, y: np.ndarray, alpha: float,
                    x0: np.ndarray | None, tol: float, ax0: np.ndarray | None = None,
                    y0: np.ndarray | None = None, candidates: np.ndarray | None = None,
                    reach: np.ndarray | None = None, in_place: bool = False,
                    cut: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Zhou et al. closed form ``F = (I - alpha S)^-1 Y``, solved by CG (diag of A is 1).

    Returns ``(F, A F)``; pass ``A F`` back as ``ax0`` with ``x0 = F`` (and the old ``Y`` as
    ``y0``) to warm-start. ``candidates``: the rows where ``Y`` or ``y0`` is non-zero, if
    known (the click's local update then reads only those rows of them). ``reach``: the
    rows in graph parts holding a label, which a cold solve must give a value
    (:func:`block_pcg`). ``in_place``: a click's local update may change ``x0`` and ``ax0``
    (local.py). ``cut``: (L', 2) rows of links left out of ``S`` (links.spreading_cut); the
    caller drops ``ax0`` when they differ from the solve ``x0`` came from."""
    if info.normalised is None:
        # Kept with the graph info, so warm starts pay one sparse product per iteration.
        dinv_sqrt = np.where(info.degree > 0,
                             1.0 / np.sqrt(np.maximum(info.degree, 1e-300)), 0.0)
        scale = sp.diags(dinv_sqrt)
        info.normalised = (scale @ graph @ scale).tocsr()
    if info.product is None:
        info.product = SplitProduct(info.normalised)  # float32, all cores (products.py)
    product = info.product
    links = None if cut is None else CutLinks(info.normalised, cut)
    if links is not None:
        def product(f: np.ndarray, full=info.product) -> np.ndarray:
            return links.remove_from(full(f), f)
    if x0 is not None and ax0 is not None and y0 is not None:
        # A click changes a few rows of Y: solved near them first (local.py).
        got = local_update(info.normalised, alpha, y, x0, ax0, y0, tol, candidates, in_place,
                           None if links is None else links.matrix)
        if got is not None:
            if got[2]:
                return got[0], got[1]
            x0, ax0, y0 = got[0], got[1], y  # the rest to the full solve's criterion

    def matvec(f: np.ndarray) -> np.ndarray:
        return f - alpha * product(f)

    x, _, ax = block_pcg(matvec, y, x0, np.ones(info.n), tol=tol, ax0=ax0, b0=y0,
                         reach=reach if x0 is None else None)
    return x, ax


def harmonic_solve(graph: sp.csr_matrix, info: GraphInfo, rows: np.ndarray,
                   onehot: np.ndarray, x0: np.ndarray | None, tol: float,
                   b0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic extension: labelled rows fixed to their one-hot, ``L u = 0`` elsewhere.

    Solved in the full row space with the fixed rows masked out (``L_ff u_f = W_fl y_l``),
    which avoids extracting a sub-matrix on every call. Rows in components without any
    label are left at zero (no information reaches them). Returns ``(U, right-hand side)``;
    the latter goes back in as ``b0`` on a warm start.
    """
    n, c = info.n, onehot.shape[1]
    y = np.zeros((n, c))
    y[rows] = onehot
    free = np.isin(info.component, np.unique(info.component[rows]))
    free[rows] = False
    if not free.any():
        return y, np.zeros_like(y)
    fmask = free.astype(np.float64)[:, None]
    deg = info.degree

    def matvec(u: np.ndarray) -> np.ndarray:
        return fmask * (deg[:, None] * u - graph @ u)

    rhs = fmask * (graph @ y)
    start = None if x0 is None else fmask * x0
    inv = np.where(free & (deg > 0), 1.0 / np.maximum(deg, 1e-300), 0.0)
    u, _, _ = block_pcg(matvec, rhs, start, inv, tol=tol, b0=b0,
                        reach=free if x0 is None else None)
    return fmask * u + y, rhs


def poisson_sources(group: np.ndarray, rows: np.ndarray, classes: np.ndarray,
                    n_classes: int) -> np.ndarray:
    """Right-hand side of Poisson learning, one unit of mass per class and group.

    ``group`` (N,) comes from :func:`poisson_groups`. For each group holding labels, class
    ``j``'s column is ``mean of deltas at its labels - mean of deltas at all labels`` of that
    group, so it sums to zero there (the system is consistent and no link carries flux) and
    is independent of how many labels the class has; the class prior is applied afterwards
    as a column scale.
    """
    b = np.zeros((group.size, n_classes))
    comp = group[rows]
    for cid in np.unique(comp):
        in_c = comp == cid
        r, y = rows[in_c], classes[in_c]
        m = r.size
        if np.unique(y).size < 2:
            continue  # one class alone in its component: no contrast to transport
        b[r] -= 1.0 / m
        for j in np.unique(y):
            sel = r[y == j]
            b[sel, j] += 1.0 / sel.size
    return b


def poisson_solve(graph: sp.csr_matrix, info: GraphInfo, b: np.ndarray,
                  x0: np.ndarray | None, tol: float, b0: np.ndarray | None = None,
                  group: np.ndarray | None = None, counted: np.ndarray | None = None
                  ) -> np.ndarray:
    """Solve ``L U = B`` (``L = D - W``), fixing each group's free constant to zero
    degree-weighted mean over its ``counted`` rows (the normalisation of Calder et al.'s
    iteration); groups default to the connected components, all rows counted."""
    # Diffusion kernels give outliers degrees down to 1e-40; a unit source there would make
    # a spike of 1e40 and wreck CG. Flooring the diagonal adds a tiny leak at such events
    # only (the system becomes definite there), and leaves ordinary events untouched.
    deg = info.degree
    diag = np.maximum(deg, DEGREE_FLOOR * float(np.median(deg)))

    def matvec(u: np.ndarray) -> np.ndarray:
        return diag[:, None] * u - graph @ u

    u, _, _ = block_pcg(matvec, b, x0, 1.0 / diag, tol=tol, b0=b0)
    # CG drifts along the null space (per-component constants), and a group's potential is
    # only defined up to a constant of its own (its links carry no flux); fix both.
    grp = info.component if group is None else group
    w = deg if counted is None else deg * counted
    ng = int(grp.max()) + 1 if grp.size else 0
    vol = np.bincount(grp, weights=w, minlength=ng)
    for j in range(u.shape[1]):
        mass = np.bincount(grp, weights=w * u[:, j], minlength=ng)
        u[:, j] -= np.divide(mass, vol, out=np.zeros_like(mass), where=vol > 0)[grp]
    return u
