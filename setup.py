"""Packaging for psocake-labeler (setup.py, as in the Psocake world)."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
PSOCAKE_NEEDS = ["numba", "scikit-image", "pandas", "matplotlib"]
# The version is defined once, in the package (read as text: setup.py runs before the
# package's dependencies are installed, so it cannot import it).
VERSION = re.search(r'^__version__ = "([^"]+)"$',
                    (HERE / "psocake_labeler" / "__init__.py").read_text(encoding="utf-8"),
                    re.M).group(1)

setup(
    name="psocake-labeler",
    version=VERSION,
    description=("Label XFEL diffraction hits on a diffusion-map manifold, inside Psocake or "
                 "stand-alone"),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["psocake_labeler", "psocake_labeler.*"]),
    install_requires=[
        "numpy>=1.22",
        "scipy>=1.8",
        "h5py>=3.6",               # the first with wheels for Python 3.10
        "scikit-learn>=1.0",
        "threadpoolctl>=3",
        "PyQt5>=5.12",
        "pyqtgraph>=0.12.4",
        "PyOpenGL>=3.1",          # the 3-D view (pyqtgraph.opengl)
        "mpi4py>=3.1",
    ],
    extras_require={
        # A pip-only MPI; cluster users keep their system MPI by not asking for it.
        "mpi": ["mpich"],
        # What the real Psocake imports besides LCLS's psana1 (the tests run it over stand-ins).
        "psocake": PSOCAKE_NEEDS,
        # setuptools: test_layout runs setup.py, and venvs of Python >= 3.12 come without it
        "test": ["mpich", "pytest>=7", "pytest-qt>=4", "pytest-timeout", "ruff", "setuptools",
                 *PSOCAKE_NEEDS],
        "bench": ["pydiffmap", "psutil"],
    },
    entry_points={
        "console_scripts": [
            "psocake-labeler=psocake_labeler.cli:main",
            "psocake-label=psocake_labeler.gui.hosts.launcher:main",
        ]
    },
)
