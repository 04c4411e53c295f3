"""The feature pass's fast paths give what the plain computation gives (issue 14's speed-up):
the hot-pixel test's cheap candidate filter, the beam-centre search's small FFTs and the
binning of a block with one mask."""
from __future__ import annotations

import numpy as np

from psocake_labeler.features import centering
from psocake_labeler.features import representations as rep
from psocake_labeler.features.masking import MIN_RING_PIXELS, PixelStats


def _leave_one_out_outliers(stats: PixelStats, images: np.ndarray) -> np.ndarray:
    """Every pixel's leave-one-out test written out plainly: the reference."""
    x = images.reshape(len(images), -1).astype(np.float64)
    good = np.isfinite(x) & stats.file_mask.ravel()
    x = np.where(good, x, 0.0)
    r = stats.rings.ravel()
    out = np.zeros(x.shape, dtype=np.int64)
    for k in range(len(x)):
        n = np.bincount(r, good[k], minlength=r.max() + 1)
        s1 = np.bincount(r, x[k], minlength=r.max() + 1)
        s2 = np.bincount(r, x[k] ** 2, minlength=r.max() + 1)
        n_o = n[r] - good[k]
        mean = (s1[r] - x[k]) / np.maximum(n_o, 1)
        std = np.sqrt(np.maximum((s2[r] - x[k] ** 2) / np.maximum(n_o, 1) - mean ** 2, 0))
        out[k] = good[k] & (n_o >= MIN_RING_PIXELS) & (
            np.abs(x[k] - mean) > stats.hot_sigma * std + 1e-12 * np.abs(mean))
    return out.sum(axis=0).reshape(stats.shape)


def test_hot_pixel_candidates_miss_no_leave_one_out_outlier():
    rng = np.random.default_rng(3)
    shape, center = (48, 40), (23.5, 19.0)
    radius = np.hypot(*np.mgrid[0:48, 0:40] - np.array(center)[:, None, None])
    images = rng.exponential(1.0, (12,) + shape) * (50 / (1 + radius)) ** 2
    images[:, 5, 7] = 100 * (50 / (1 + radius[5, 7])) ** 2     # hot in every image
    images[3:, 30, 30] += 8.0        # a milder one, in most
    images[:, radius.astype(int) == 9] = 4.0     # a flat ring: rounding decides there
    images[:, radius.astype(int) == 11] = np.linspace(4, 4 + 1e-9, (radius.astype(int)
                                                                     == 11).sum())
    mask = np.ones(shape, dtype=bool)
    mask[:, :3] = False
    for block in (images, np.concatenate([images[:1] * np.nan, images[1:]])):
        stats = PixelStats(shape, center, mask)
        stats.update(block[:5])      # the block with a corrupt image takes the slow path
        stats.update(block[5:])
        np.testing.assert_array_equal(stats.counts[3], _leave_one_out_outliers(stats, block))
        assert stats.counts[3][5, 7] == len(block) - np.isnan(block[:, 0, 0]).sum()


def test_beam_centre_search_finds_the_centre_of_symmetry_with_any_masks():
    rng = np.random.default_rng(5)
    h, w, n = 40, 44, 4
    truth = np.array([[1.5, -2.0], [-0.5, 1.0], [2.0, 2.5], [0.0, -1.5]])
    center = ((h - 1) / 2, (w - 1) / 2)
    images = np.zeros((n, h, w), dtype=np.float32)
    ii, jj = np.mgrid[0:h, 0:w]
    for k, (dy, dx) in enumerate(truth):
        base = rng.exponential(1.0, (h, w))
        mi = np.clip(np.round(2 * (center[0] + dy)).astype(int) - ii, 0, h - 1)
        mj = np.clip(np.round(2 * (center[1] + dx)).astype(int) - jj, 0, w - 1)
        images[k] = base + base[mi, mj]          # symmetric about center + (dy, dx)
    one = np.ones((h, w), dtype=bool)
    one[:, :4] = False
    per_image = np.broadcast_to(one, (n, h, w)).copy()
    per_image[1, 30:, 30:] = False
    for good in (one, np.broadcast_to(one, (n, h, w)), per_image):
        off = centering.friedel_offsets(images, good, center, 4.0)
        np.testing.assert_allclose(off, truth, atol=0.26)   # edge pixels are not mirrored
    alone = [centering.friedel_offsets(images[k:k + 1], per_image[k:k + 1], center, 4.0)
             for k in range(n)]
    np.testing.assert_allclose(np.concatenate(alone),
                               centering.friedel_offsets(images, per_image, center, 4.0),
                               atol=1e-4)


def test_binning_one_mask_equals_a_mask_per_image_and_skips_nan():
    rng = np.random.default_rng(7)
    images = rng.normal(3, 2, (5, 33, 30)).astype(np.float32)
    mask = rng.random((33, 30)) > 0.2
    for b in (1, 2, 3):
        v1, ok1 = rep.bin_images(images, mask, b)
        v3, ok3 = rep.bin_images(images, np.broadcast_to(mask, images.shape).copy(), b)
        np.testing.assert_array_equal(v1, v3)
        np.testing.assert_array_equal(ok1, ok3)
        assert ok1.shape == v1.shape and ok1.flags.writeable
    nan = images.copy()
    nan[2, 4, 4] = np.nan
    v, ok = rep.bin_images(nan, mask, 2)
    assert np.isfinite(v).all()
    m = mask.copy()
    m[4, 4] = False
    np.testing.assert_array_equal(v[2], rep.bin_images(images[2:3], m, 2)[0][0])


def test_brightness_of_a_block_is_that_of_each_image():
    from psocake_labeler.features.brightness import hit_brightness

    rng = np.random.default_rng(9)
    images = rng.normal(0, 1, (20, 256, 256)).astype(np.float32)   # more than a sub-block
    images[:, 100:110, 100:110] += 50
    images[3, 0, 0] = np.nan
    good = np.ones((256, 256), dtype=bool)
    good[5] = False
    one_by_one = np.concatenate([hit_brightness(im, good) for im in images])
    np.testing.assert_array_equal(hit_brightness(images, good), one_by_one)
    assert np.isfinite(one_by_one).all() and (one_by_one[:, 1] > np.log1p(90)).all()


def test_ring_fit_of_a_block_is_that_of_each_hit():
    """The ring fit shares bins and gathers columns across the hits of a block: each hit's
    centre must still be its own, whatever else is in the block."""
    from psocake_labeler.features.ringfit import ring_offsets

    rng = np.random.default_rng(11)
    h = w = 48
    ii, jj = np.mgrid[0:h, 0:w]
    truth = rng.uniform(-2.5, 2.5, (6, 2))
    images = np.stack([1 + np.cos(np.hypot(ii - 23.5 - dy, jj - 23.5 - dx) / 1.7) ** 2
                       + rng.normal(0, 0.05, (h, w)) for dy, dx in truth])
    good = np.ones(images.shape, dtype=bool)
    good[:, :, :20] = False                      # a dead half: too few Friedel pairs
    block = ring_offsets(images, good, (23.5, 23.5), 4.0)
    alone = np.concatenate([ring_offsets(images[k:k + 1], good[k:k + 1], (23.5, 23.5), 4.0)
                            for k in range(len(images))])
    np.testing.assert_array_equal(block, alone)
    np.testing.assert_allclose(block, truth, atol=0.35)
