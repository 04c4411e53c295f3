"""Scattering amplitudes of the simulated objects: PR772-like icosahedra and water spheres.

The icosahedron's 3-D Fourier transform is computed once on a grid (FFT of an antialiased
voxel model) and then sampled at the q-vectors of any detector pixel in any orientation with
cubic-spline interpolation (``scipy.ndimage.map_coordinates``). The particle is centred on a
grid point and centrosymmetric, so its transform is real: one float32 grid suffices.
Water droplets are spheres, whose form factor is analytic.

Units: lengths in nm, q in nm^-1 with |q| = 2 sin(theta) / lambda (no 2 pi).
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import fft, ndimage

GOLDEN = (1.0 + 5.0 ** 0.5) / 2.0


def icosahedron_vertices() -> np.ndarray:
    """Vertices (12, 3) of an icosahedron of circumradius 1."""
    v = []
    for a in (-1, 1):
        for b in (-1, 1):
            v += [(0, a, b * GOLDEN), (a, b * GOLDEN, 0), (b * GOLDEN, 0, a)]
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v[0])


def icosahedron_normals() -> np.ndarray:
    """Unit outward normals (20, 3) of the faces: centroids of the triangles of neighbours."""
    v = icosahedron_vertices()
    d = np.linalg.norm(v[:, None] - v[None], axis=2)
    edge = d[d > 0].min()
    near = np.isclose(d, edge)
    faces = [(i, j, k) for i in range(12) for j in range(i + 1, 12) for k in range(j + 1, 12)
             if near[i, j] and near[j, k] and near[i, k]]
    c = np.array([v[list(f)].mean(axis=0) for f in faces])
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def icosahedron_density(n: int, voxel_nm: float, radius_nm: float,
                        core_fraction: float = 0.55, core_contrast: float = -0.25) -> np.ndarray:
    """Antialiased density (n, n, n) of an icosahedron of circumradius ``radius_nm``.

    PR772 has a protein capsid around a lipid membrane and DNA; a slightly less dense
    spherical core (``core_contrast`` relative to the shell) breaks the uniform-solid model
    without breaking centrosymmetry. Voxel i sits at (i - n // 2) * voxel_nm.
    """
    normals = icosahedron_normals()
    inradius = radius_nm * float(np.max(icosahedron_vertices() @ normals[0]))
    # float32 throughout: a 180^3 grid is 23 MB per array instead of 47.
    ax = ((np.arange(n) - n // 2) * voxel_nm).astype(np.float32)
    x, y, z = np.meshgrid(ax, ax, ax, indexing="ij", sparse=True)
    dist = np.full((n, n, n), -np.inf, dtype=np.float32)
    for nx, ny, nz in normals.astype(np.float32):
        np.maximum(dist, nx * x + ny * y + nz * z, out=dist)
    dist -= np.float32(inradius)
    # Linear ramp over one voxel at the surface keeps the FFT free of staircase aliasing.
    rho = np.clip(np.float32(0.5) - dist / np.float32(voxel_nm), 0.0, 1.0)
    del dist
    r = np.sqrt(x * x + y * y + z * z)
    core = np.clip(np.float32(0.5) - (r - np.float32(core_fraction * inradius))
                   / np.float32(voxel_nm), 0.0, 1.0)
    rho += np.float32(core_contrast) * core
    return rho.astype(np.float32)


class IcosahedronTransform:
    """3-D Fourier amplitude of a reference icosahedron, sampled in any orientation.

    Parameters
    ----------
    q_max : float
        Largest |q| (nm^-1) that will be asked for, size scaling included.
    diameter_nm : float
        Reference vertex-to-vertex diameter.
    oversampling : float
        Grid box / particle diameter; the amplitude needs >= 1 (Shannon), cubic splines are
        accurate from ~2.
    """

    def __init__(self, q_max: float, diameter_nm: float = 70.0, oversampling: float = 2.2):
        self.diameter_nm = float(diameter_nm)
        box = oversampling * diameter_nm
        voxel = 1.0 / (2.0 * q_max)
        n = int(np.ceil(box / voxel / 2.0)) * 2 + 2
        self.n = n
        self.dq = 1.0 / (n * voxel)
        rho = icosahedron_density(n, voxel, diameter_nm / 2.0)
        self.volume_nm3 = float(rho.sum()) * voxel ** 3
        # float32 FFT: the grid's own accuracy (~1e-3) is far below what float32 resolves.
        amp = np.fft.fftshift(fft.fftn(np.fft.ifftshift(rho)).real)
        del rho
        amp *= np.float32(voxel ** 3 / self.volume_nm3)  # F(0) = 1
        # Prefilter once; every slice then uses the spline coefficients directly.
        self.coeffs = ndimage.spline_filter(amp, order=3, output=np.float32)

    def amplitude(self, q: np.ndarray, rotation: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Real amplitude at q-vectors ``q`` (3, ...) of a particle rotated by ``rotation``.

        ``scale`` is the particle's size over the reference size; F(0) = scale**3 so that
        intensities grow with the volume squared.
        """
        shape = q.shape[1:]
        qr = (rotation.T @ q.reshape(3, -1)) * scale
        coords = qr / self.dq + self.n // 2
        out = ndimage.map_coordinates(self.coeffs, coords, order=3, mode="constant",
                                      cval=0.0, prefilter=False, output=np.float32)
        return out.reshape(shape) * np.float32(scale ** 3)


@functools.lru_cache(maxsize=4)
def cached_transform(q_max: float, diameter_nm: float = 70.0) -> IcosahedronTransform:
    """One transform per (q range, size), shared by every run simulated in this process."""
    return IcosahedronTransform(q_max, diameter_nm)


def cluster_intensity(transform: IcosahedronTransform, q: np.ndarray, rotations: np.ndarray,
                      scales: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """|sum_j F_j(q) exp(-2 pi i q.r_j)|^2 of particles at ``offsets`` (k, 3) nm.

    One particle needs no phase: its intensity is the squared real amplitude.
    """
    if len(rotations) == 1:
        return transform.amplitude(q, rotations[0], scales[0]) ** 2
    amp = np.zeros(q.shape[1:], dtype=np.complex64)
    for rot, s, off in zip(rotations, scales, offsets):
        phase = np.tensordot(np.asarray(off, dtype=np.float32), q, axes=1)
        amp += transform.amplitude(q, rot, s) * np.exp(-2j * np.pi * phase)
    return amp.real ** 2 + amp.imag ** 2


def sphere_amplitude(q_abs: np.ndarray, radius_nm: float) -> np.ndarray:
    """Normalised form-factor amplitude 3 (sin x - x cos x) / x^3, x = 2 pi q R (F(0) = 1)."""
    x = 2.0 * np.pi * np.asarray(q_abs, dtype=np.float64) * radius_nm
    out = np.ones_like(x)
    nz = x > 1e-6
    xs = x[nz]
    out[nz] = 3.0 * (np.sin(xs) - xs * np.cos(xs)) / xs ** 3
    return out


def sphere_minima_q(radius_nm: float, count: int = 5) -> np.ndarray:
    """|q| (nm^-1) of the first ``count`` zeros of the sphere form factor (tan x = x)."""
    from scipy.optimize import brentq

    f = lambda x: np.tan(x) - x  # noqa: E731
    roots = [brentq(f, (k + 0.5) * np.pi - 0.5, (k + 0.5) * np.pi - 1e-9)
             for k in range(1, count + 1)]
    return np.asarray(roots) / (2.0 * np.pi * radius_nm)


def sphere_intensity_profile(q_abs: np.ndarray, radius_nm: float, dq_pixel: float) -> np.ndarray:
    """Sphere intensity |F|^2 averaged over a pixel of width ``dq_pixel`` (radially).

    Droplets up to 400 nm have fringes finer than a binned pixel; point sampling would alias
    them into moire, so the 1-D profile is box-averaged over one pixel before lookup.
    """
    q_abs = np.asarray(q_abs)
    top = float(q_abs.max()) + dq_pixel
    period = 1.0 / (2.0 * radius_nm)
    step = min(period / 16.0, dq_pixel / 4.0)
    grid = np.arange(0.0, top + step, step)
    prof = sphere_amplitude(grid, radius_nm) ** 2
    width = max(1, int(round(dq_pixel / step)))
    prof = ndimage.uniform_filter1d(prof, width, mode="nearest")
    return np.interp(q_abs, grid, prof)


def cluster_offsets(rng: np.random.Generator, radii: np.ndarray) -> np.ndarray:
    """Centres (k, 3) nm of ``k`` touching particles, each stuck to an earlier one."""
    k = len(radii)
    pos = np.zeros((k, 3))
    for i in range(1, k):
        for _ in range(100):
            j = int(rng.integers(i))
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            # Icosahedra touch somewhere between face-to-face and vertex-to-vertex.
            cand = pos[j] + d * (radii[i] + radii[j]) * rng.uniform(0.82, 0.95)
            others = np.delete(pos[:i], j, axis=0)
            if len(others) == 0 or np.all(np.linalg.norm(others - cand, axis=1)
                                          > 0.8 * (radii[:i][np.arange(i) != j] + radii[i])):
                break
        pos[i] = cand
    return pos - pos.mean(axis=0)
