"""The dock's density image at 10^6 events: a click's patch beside a full render.

Three classes of 10^6 events (a broad cloud, a tight one, a heavy-tailed one) on a
``--side`` x ``--side`` view (1024: the largest image). Times a full bin + render (what a
zoom, new axes or a filter costs) and ``update`` of ``--rows`` restyled rows (what a click
costs), and checks the patched picture equals a fresh full render's. Wall, process CPU
and load beside every time.

    python benchmarks/bench_density.py [--side 1024] [--n 1000000]
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from scale_data import clocks


def _clock(fn, repeat: int = 3) -> tuple[float, float]:
    """Median (wall s, process CPU s) of ``fn()``."""
    out = [clocks(fn)[1:3] for _ in range(repeat)]
    wall, cpu = np.median(np.array(out), axis=0)
    return float(wall), float(cpu)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--side", type=int, default=1024)
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg

    from psocake_labeler.gui.density import DensityLayer
    from psocake_labeler.gui.style import Palette

    pg.mkQApp()
    n, rng = args.n, np.random.default_rng(0)
    sizes = [6 * n // 10, 3 * n // 10, n - 9 * n // 10]
    xy = np.concatenate([rng.normal([0, 0], [1, 0.5], (sizes[0], 2)),
                         rng.normal([3, 1], 0.3, (sizes[1], 2)),
                         rng.standard_cauchy((sizes[2], 2)) * 0.2 + [1, 3]])
    palette = Palette(["a", "b", "c"])
    codes = palette.codes_for(np.repeat([0, 1, 2], sizes), rng.uniform(0.3, 1, n))

    def fresh(styles):
        layer = DensityLayer()
        layer.set_points(xy)
        layer.set_view((-3, 5), (-2, 4), (args.side, args.side))
        layer.set_styles(palette.rgba, styles)
        return layer

    layer = fresh(codes)
    print(f"density image of {n:,} events, {args.side} x {args.side} pixels, "
          f"2 cores, load {os.getloadavg()[0]:.1f}")
    wall, cpu = _clock(lambda: fresh(codes))
    print(f"  full bin + render (zoom, axes, filter) {wall:8.3f} s wall {cpu:.3f} s cpu "
          f"(load {os.getloadavg()[0]:.1f})")
    for count in (10, 1000, 30000):
        rows = rng.choice(n, count, replace=False)
        new = palette.codes_for(rng.integers(-1, 3, count), rng.uniform(0, 1, count))
        back = codes[rows]
        def there_and_back(r=rows, a=new, b=back):
            layer.update(r, a)
            layer.update(r, b)
        wall, cpu = _clock(there_and_back, 5)
        layer.update(rows, new)
        codes = codes.copy()
        codes[rows] = new
        same = np.array_equal(layer.image, fresh(codes).image)
        print(f"  update of {count:6d} rows (a click)      {wall / 2:8.4f} s wall "
              f"{cpu / 2:.4f} s cpu (load {os.getloadavg()[0]:.1f}); picture equals a full "
              f"render's: {same}")


if __name__ == "__main__":
    main()
