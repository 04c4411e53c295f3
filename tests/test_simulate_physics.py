"""The simulator's physics: sphere rings of water droplets, the icosahedral symmetry and
fringe spacing of a single particle, coherent interference of two."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from psocake_labeler.simulate import (
    read_truth,
    simulate_run,
)
from psocake_labeler.simulate.detector import (
    Detector,
)
from psocake_labeler.simulate.hits import transform_for
from psocake_labeler.simulate.particles import (
    cluster_intensity,
    icosahedron_vertices,
    sphere_intensity_profile,
    sphere_minima_q,
)


def _radial_profile(img, good, center, rmax):
    yy, xx = np.indices(img.shape)
    r = np.rint(np.hypot(yy - center[0], xx - center[1])).astype(int)
    sel = good & (r < rmax)
    s = np.bincount(r[sel], weights=img[sel], minlength=rmax)
    c = np.bincount(r[sel], minlength=rmax)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / c


@pytest.fixture(scope="module")
def water_run(tmp_path_factory):
    return simulate_run(tmp_path_factory.mktemp("water") / "water.cxi", hits=6,
                        shape=256, seed=7, mix="water=1")


def _fit_sphere_diameter(photons, good, det):
    """Diameter (nm) maximising the Poisson likelihood of a sphere pattern, coarse to fine."""
    q = det.q_abs_pixel[good]
    w = det.bin(det.weight)[good]
    counts = photons[good]

    def loglik(d):
        m = sphere_intensity_profile(q, d / 2, det.dq_pixel) * w + 1e-12
        s = counts.sum() / m.sum()
        return np.sum(counts * np.log(s * m)) - s * m.sum()

    best = 60.0
    for step in (5.0, 0.5):
        trial = np.arange(max(50.0, best - 10 * step), best + 10 * step, step) \
            if step < 5 else np.arange(60.0, 500.0, step)
        best = trial[int(np.argmax([loglik(d) for d in trial]))]
    return best


def test_water_droplets_have_sphere_rings_at_their_size(water_run):
    """Fitting the sphere form factor to a droplet's rings gives back its diameter."""
    truth = read_truth(water_run.truth_path)
    det = Detector((256, 256))
    assert np.all((truth.params["diameter_nm"] >= 100) & (truth.params["diameter_nm"] <= 400))
    with h5py.File(water_run.path, "r") as f:
        good = f["entry_1/instrument_1/detector_1/mask"][()] == 0
        data = f["entry_1/data_1/data"][()]
    photons = np.clip(np.rint(data / det.gain_adu), 0, None)
    for img, d_nm in zip(photons, truth.params["diameter_nm"]):
        assert _fit_sphere_diameter(img, good, det) == pytest.approx(d_nm, rel=0.01)


def _angular_power(img, center, r0, r1, m_max=12):
    """Power of the angular Fourier components m = 0..m_max in an annulus."""
    yy, xx = np.indices(img.shape)
    r = np.hypot(yy - center[0], xx - center[1])
    phi = np.arctan2(yy - center[0], xx - center[1])
    sel = (r >= r0) & (r < r1)
    m = np.arange(m_max + 1)
    coef = (img[sel][None, :] * np.exp(-1j * m[:, None] * phi[sel][None, :])).sum(axis=1)
    return np.abs(coef) ** 2


def _icosahedron_pattern(det, axis):
    """Noise-free single-particle intensity with the given particle axis along the beam."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    rot, _ = Rotation.align_vectors([[0, 0, 1]], [axis])
    return det.bin(cluster_intensity(transform_for(det), det.q, rot.as_matrix()[None],
                                     np.ones(1), np.zeros((1, 3))))


def test_single_particle_shows_icosahedral_symmetry():
    """Viewed along a 5-fold axis the speckle is 5-fold symmetric (10-fold at small q, where
    the Ewald sphere is flat); along a 2-fold axis it is 2-fold symmetric, not 5-fold."""
    det = Detector((128, 128))
    v = icosahedron_vertices()
    five = v[0]
    two = v[0] + v[np.argmin(np.linalg.norm(v[1:] - v[0], axis=1)) + 1]  # edge midpoint
    m = np.arange(13)
    p = _angular_power(_icosahedron_pattern(det, five), det.center, 10, 40)
    others = p[(m > 0) & (m != 5) & (m != 10)]
    assert min(p[5], p[10]) > 100 * others.max()
    p = _angular_power(_icosahedron_pattern(det, two), det.center, 10, 40)
    even, odd = p[(m > 0) & (m % 2 == 0)], p[m % 2 == 1]
    assert odd.max() < 0.01 * even.max()
    assert p[5] < 0.01 * even.max()


def test_single_particle_fringe_spacing_matches_its_size():
    """The orientation-averaged single pattern has its minima where a sphere of the same
    volume has them: fringe spacing 1 / (2 R_eq)."""
    det = Detector((256, 256))
    rots = Rotation.random(12, random_state=3).as_matrix()
    tr = transform_for(det)
    avg = sum(det.bin(cluster_intensity(tr, det.q, r[None], np.ones(1), np.zeros((1, 3))))
              for r in rots)
    prof = _radial_profile(avg, np.ones(avg.shape, bool), det.center, 64)
    r = np.arange(2, 40)
    minima = r[(prof[r] < prof[r - 1]) & (prof[r] < prof[r + 1])]
    q_minima = minima[:3] * det.dq_pixel
    r_eq = (3 * tr.volume_nm3 / (4 * np.pi)) ** (1 / 3)
    assert 27 < r_eq < 32  # 70 nm vertex to vertex
    expected = sphere_minima_q(r_eq, 3)
    np.testing.assert_allclose(q_minima, expected, rtol=0.1)


def test_two_particles_interfere_coherently():
    """Two equal, equally oriented particles: I = I_single * (2 + 2 cos(2 pi q.d))."""
    det = Detector((64, 64))
    tr = transform_for(det)
    rot = np.eye(3)[None].repeat(2, axis=0)
    offsets = np.array([[-35.0, 0, 0], [35.0, 0, 0]])
    pair = cluster_intensity(tr, det.q, rot, np.ones(2), offsets)
    single = cluster_intensity(tr, det.q, rot[:1], np.ones(1), np.zeros((1, 3)))
    expect = single * (2 + 2 * np.cos(2 * np.pi * 70.0 * det.q[0]))
    np.testing.assert_allclose(pair, expect, rtol=1e-3, atol=1e-6 * single.max())
    assert not np.allclose(pair, 2 * single, rtol=0.1)  # not an incoherent sum


# ---------------------------------------------------------------- SFX layout
