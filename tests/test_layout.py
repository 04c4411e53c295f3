"""The package's structure rules, checked on the source itself (DESIGN.md, "Layout").

No import cycles (imports inside functions count), no private names imported across
modules, no module over 400 lines, no function over 80, no Qt below ``gui/``, and ruff clean.
"""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "psocake_labeler"
QT = ("PyQt5", "PyQt6", "PySide2", "PySide6", "pyqtgraph")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def imports(name: str) -> list[tuple[str, str]]:
    """``(module, imported name)`` for every import in module ``name``, resolved."""
    path = MODULES[name]
    base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out += [(target, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names]
    return out


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for target, name in imports(m):
            sub = f"{target}.{name}"
            t = sub if sub in MODULES else target
            if t in MODULES and t != m:
                edges[m].add(t)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_cycle_check_finds_a_cycle():
    # the check itself must be able to fail
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_names_across_modules():
    bad = [(m, t, n) for m in MODULES for t, n in imports(m)
           if t.startswith("psocake_labeler") and n.startswith("_") and not n.startswith("__")
           and f"{t}.{n}" not in MODULES]
    assert bad == []


def test_core_is_qt_free():
    core = [m for m in MODULES if not m.startswith("psocake_labeler.gui")]
    bad = [(m, t) for m in core for t, _ in imports(m) if t.split(".")[0] in QT]
    assert bad == []


def test_only_the_window_commands_import_gui():
    """Below ``gui/`` nothing imports it; of ``cli/``, only the commands that open a window
    (lazily). What the demo and the Compute dialog share lives in ``cli/`` (Qt-free)."""
    allowed = {"psocake_labeler.cli.gui_cmd", "psocake_labeler.cli.demo_cmd"}
    bad = [(m, t) for m in MODULES if not m.startswith("psocake_labeler.gui") and m not in allowed
           for t, n in imports(m)
           if t.startswith("psocake_labeler.gui") or (t == "psocake_labeler" and n == "gui")]
    assert bad == []


def documented_imports() -> dict[str, set[str] | None]:
    """docs/architecture.md's table: sub-package -> what it may import (None: everything)."""
    rows = {}
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        name = cells[0].strip("`").removesuffix("/").removesuffix(".py")
        may = cells[2]
        rows[name] = None if may.startswith("everything") else {
            t.split(".")[0].removesuffix("/") for t in may.split("`")[1::2]}
    return rows


def sub_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_imports_follow_docs_architecture():
    """Every import between sub-packages is one docs/architecture.md allows, and every
    sub-package has its row there."""
    allowed = documented_imports()
    edges = graph()
    assert sorted({sub_package(m) for m in MODULES} - set(allowed)) == []
    bad = sorted({(sub_package(m), sub_package(t)) for m, targets in edges.items()
                  for t in targets if sub_package(t) != sub_package(m)
                  and allowed[sub_package(m)] is not None
                  and sub_package(t) not in allowed[sub_package(m)]})
    assert bad == []


def test_module_and_function_sizes():
    # the rule holds for the scripts and tests we keep, not only the package
    files = [*MODULES.values(), *sorted((ROOT / "benchmarks").glob("*.py")),
             *sorted((ROOT / "tests").rglob("*.py"))]
    long_modules = {p.name: n for p in files if (n := len(p.read_text().splitlines())) > 400}
    long_functions = []
    for p in files:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    long_functions.append((p.name, node.name, length))
    assert long_modules == {} and long_functions == []


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' brings it)")
    proc = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_the_version_is_defined_once():
    """setup.py reads ``__version__`` from the package; no second literal anywhere."""
    import psocake_labeler

    proc = subprocess.run([sys.executable, "setup.py", "--version"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == psocake_labeler.__version__
    literal = f'"{psocake_labeler.__version__}"'
    holders = [p.relative_to(ROOT).as_posix() for p in [ROOT / "setup.py", *PKG.rglob("*.py")]
               if literal in p.read_text()]
    assert holders == ["psocake_labeler/__init__.py"]


def test_the_gui_packages_lazy_names_exist():
    """``psocake_labeler.gui``'s names, imported on first use, point at modules that define
    them (checked on the source, without importing Qt)."""
    tree = ast.parse((PKG / "gui" / "__init__.py").read_text())
    table = next(n.value for n in tree.body if isinstance(n, ast.AnnAssign | ast.Assign)
                 and isinstance(n.value, ast.Dict))
    names = dict(zip((k.value for k in table.keys), (v.value for v in table.values)))
    assert names, "no lazy names found"
    missing = []
    for name, module in names.items():
        path = MODULES.get(f"psocake_labeler.gui.{module}")
        defined = set() if path is None else {
            n.name for n in ast.parse(path.read_text()).body
            if isinstance(n, ast.ClassDef | ast.FunctionDef)}
        if name not in defined:
            missing.append((name, module))
    assert missing == []
