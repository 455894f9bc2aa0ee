"""Module boundaries of src/hala, checked from the source text (ast; nothing is imported, so this is fast).

Two rules, each failure naming `file:line`:

1. **No private cross-module imports.** A module uses only the public names of another hala module: no
   `from hala.x import _y`, no `x._y` on an imported hala module `x` (dunder names such as `__version__` are
   public), and no `obj._y` where `_y` is defined (a function, method, class or assigned attribute) only in
   other hala modules: a private method of another module's class, say. A name another module needs is public
   by definition: give it a public name where it belongs.

2. **No import cycles, deferred imports included.** The graph has an edge A -> B for every import of hala module
   B in A, whether at module level or deferred inside a function (hala defers heavy imports, torch above all, so
   that `hala --help` and recipe validation stay fast). Module-level cycles break at import time (a partially
   initialised module); deferred ones do not crash, but they are the same tangle: two modules that each need the
   other are one module, or share a third that both should import. So the whole graph must be acyclic.
   Imports under `if TYPE_CHECKING:` never run and are left out. Importing `hala.a.b` also runs `hala/a/__init__`,
   so it adds an edge to the package `hala.a` too, except from inside `hala.a` itself (a package's own modules
   import each other and their package is already initialising); `from hala.a import NAME` of a name defined in
   the package's `__init__` is an edge to `hala.a` from anywhere.
   Stage modules the recipe registry names as strings (`"hala.filters.stage:run"`) are imported by
   `importlib.import_module`, not an import statement, and are not edges.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "hala"


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "hala.filters.registry"
    path: Path
    is_package: bool
    shown: str  # the path in messages, e.g. "src/hala/filters/registry.py"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    deferred: bool  # inside a function body


def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = Module(".".join(parts), path, is_package, str(path.relative_to(SRC.parent)))
    return found


def where(module: Module, line: int) -> str:
    return f"{module.shown}:{line}"


def absolute(module: Module, node: ast.ImportFrom) -> str:
    """The module an `ImportFrom` names, relative imports resolved against `module`."""
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def is_hala(name: str) -> bool:
    return name == "hala" or name.startswith("hala.")


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@lru_cache(maxsize=None)
def parse(module: Module) -> ast.Module:
    return ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))


def scopes(tree: ast.Module) -> dict[ast.AST, tuple[bool, bool]]:
    """node -> (inside a function body, inside `if TYPE_CHECKING:`) for every import statement."""
    found: dict[ast.AST, tuple[bool, bool]] = {}

    def visit(node: ast.AST, deferred: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            d = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            t = typing_only or (
                isinstance(node, ast.If) and child in node.body and "TYPE_CHECKING" in ast.unparse(node.test)
            )
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found[child] = (d, t)
            visit(child, d, t)

    visit(tree, False, False)
    return found


def ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports(module: Module, tree: ast.Module, known: dict[str, Module]) -> list[Edge]:
    """Every import of a hala module in `module`, as edges (implicit package `__init__` runs included)."""
    edges: list[Edge] = []

    def add(target: str, line: int, deferred: bool) -> None:
        if target not in known or target == module.name:
            return
        edges.append(Edge(module.name, target, line, deferred))
        own = set(ancestors(module.name))
        for pkg in ancestors(target):
            if pkg in known and pkg not in own and pkg != module.name:
                edges.append(Edge(module.name, pkg, line, deferred))

    for node, (deferred, typing_only) in scopes(tree).items():
        if typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_hala(alias.name):
                    add(alias.name, node.lineno, deferred)
        else:
            base = absolute(module, node)
            if not is_hala(base):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    add(sub, node.lineno, deferred)
                else:  # a name defined in `base` (for a package: in its __init__.py)
                    add(base, node.lineno, deferred)
    return edges


def private_uses(module: Module, tree: ast.Module, known: dict[str, Module]) -> list[str]:
    """`file:line: ...` for each private name of another hala module that `module` imports or reads."""
    found = []
    aliases: dict[str, str] = {}  # local name -> hala module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if is_hala(a.name):
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = absolute(module, node)
            if not is_hala(base):
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in known:
                    aliases[a.asname or a.name] = sub
                    # a private submodule is the business of its own package only
                    if is_private(a.name) and not module.name.startswith(base + "."):
                        found.append(f"{where(module, node.lineno)}: imports private module {sub}")
                elif is_private(a.name) and base != module.name:
                    found.append(f"{where(module, node.lineno)}: from {base} import {a.name}")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        dotted = ast.unparse(node.value)
        head, _, rest = dotted.partition(".")
        if head not in aliases:
            continue
        target = aliases[head] + (f".{rest}" if rest else "")
        if target in known and target != module.name:
            found.append(f"{where(module, node.lineno)}: {dotted}.{node.attr} (private name of {target})")
    return found


def private_members(known: dict[str, Module]) -> dict[str, set[str]]:
    """private name -> the modules that define it (def, class, or assignment to a name or attribute)."""
    found: dict[str, set[str]] = {}
    for m in known.values():
        for node in ast.walk(parse(m)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = node.name
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                name = node.attr
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                name = node.id
            else:
                continue
            if is_private(name):
                found.setdefault(name, set()).add(m.name)
    return found


def foreign_members(module: Module, tree: ast.Module, defined: dict[str, set[str]]) -> list[str]:
    """`file:line: ...` for each `obj._y` in `module` (obj not self/cls/super()) where `_y` is defined only in
    other hala modules."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        owner = ast.unparse(node.value)
        if owner in ("self", "cls") or owner.startswith("super("):
            continue
        where_defined = defined.get(node.attr, set())
        if where_defined and module.name not in where_defined:
            found.append(
                (
                    node.lineno,
                    f"{where(module, node.lineno)}: {owner}.{node.attr} (private, defined in "
                    f"{', '.join(sorted(where_defined))})",
                )
            )
    return [text for _, text in sorted(found)]


def graph() -> tuple[dict[str, Module], list[Edge]]:
    known = modules()
    edges = [e for m in known.values() for e in imports(m, parse(m), known)]
    return known, edges


def cycles(edges: list[Edge], deferred: bool = True) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    succ: dict[str, set[str]] = {}
    for e in edges:
        if deferred or not e.deferred:
            succ.setdefault(e.source, set()).add(e.target)
            succ.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(succ):
        if root in index:
            continue
        work = [(root, iter(sorted(succ[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(succ[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def describe(component: list[str], known: dict[str, Module], edges: list[Edge]) -> str:
    inside = set(component)
    lines = [f"cycle among {', '.join(component)}:"]
    seen = set()
    for e in edges:
        if e.source in inside and e.target in inside and (e.source, e.target, e.line) not in seen:
            seen.add((e.source, e.target, e.line))
            kind = "deferred" if e.deferred else "module-level"
            lines.append(f"  {where(known[e.source], e.line)}: imports {e.target} ({kind})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------- tests
def test_no_private_names_imported_across_modules():
    known = modules()
    found = [f for m in known.values() for f in private_uses(m, parse(m), known)]
    assert not found, "private names used across modules (make them public where they belong):\n" + "\n".join(found)


def test_no_private_member_of_another_module_used():
    known = modules()
    defined = private_members(known)
    found = [f for m in known.values() for f in foreign_members(m, parse(m), defined)]
    assert not found, "private members of other modules used (make them public):\n" + "\n".join(found)


def test_no_module_level_import_cycle():
    known, edges = graph()
    found = cycles(edges, deferred=False)
    assert not found, "\n".join(describe(c, known, edges) for c in found)


def test_no_import_cycle_deferred_imports_included():
    known, edges = graph()
    found = cycles(edges, deferred=True)
    assert not found, "\n".join(describe(c, known, edges) for c in found)


# ------------------------------------------------------------------------------------------ the checker itself
def _fake_tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    known = {}
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        parts = list(Path(rel).with_suffix("").parts)
        pkg = parts[-1] == "__init__"
        if pkg:
            parts.pop()
        known[".".join(parts)] = Module(".".join(parts), path, pkg, rel)
    return known


def test_checker_finds_a_private_import_and_attribute(tmp_path):
    known = _fake_tree(
        tmp_path,
        {
            "hala/__init__.py": "",
            "hala/a.py": "def _helper(): pass\n__version__ = '1'\n",
            "hala/b.py": "from hala.a import _helper, __version__\n",
            "hala/c.py": "import hala.a as a\n\ndef f():\n    return a._helper()\n",
            "hala/d.py": "from hala import a\nfrom . import a as aa\nx = a._helper\ny = aa._helper\n",
            "hala/e.py": "def _mine(): pass\n_mine()\n",
        },
    )
    found = {m: private_uses(known[m], parse(known[m]), known) for m in ("hala.b", "hala.c", "hala.d", "hala.e")}
    assert found["hala.b"] == ["hala/b.py:1: from hala.a import _helper"]
    assert found["hala.c"] == ["hala/c.py:4: a._helper (private name of hala.a)"]
    assert [f.split(":")[1] for f in found["hala.d"]] == ["3", "4"]
    assert found["hala.e"] == []


def test_checker_finds_a_private_method_of_another_modules_class(tmp_path):
    known = _fake_tree(
        tmp_path,
        {
            "hala/__init__.py": "",
            "hala/runner.py": "class Run:\n    def _write(self):\n        self._n = 1\n        return self._n\n",
            "hala/other.py": "def f(r, s):\n    r._write()\n    s._n\n    s._unknown_elsewhere\n    super()._write()\n",
        },
    )
    defined = private_members(known)
    assert foreign_members(known["hala.runner"], parse(known["hala.runner"]), defined) == []
    assert foreign_members(known["hala.other"], parse(known["hala.other"]), defined) == [
        "hala/other.py:2: r._write (private, defined in hala.runner)",
        "hala/other.py:3: s._n (private, defined in hala.runner)",
    ]


def test_checker_finds_cycles_and_tells_deferred_from_module_level(tmp_path):
    known = _fake_tree(
        tmp_path,
        {
            "hala/__init__.py": "",
            "hala/p/__init__.py": "from hala.p.x import X\n",
            "hala/p/x.py": "X = 1\n",
            "hala/p/y.py": "from hala.p import x\nfrom hala.p import X\n",  # X: from the package __init__
            "hala/m.py": "from hala.n import f\n",
            "hala/n.py": "def f():\n    from hala.m import g\n",
            "hala/t.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hala.m import g\n",
            "hala/u.py": "import hala.t\n",
            "hala/v.py": "import hala.u\n",
        },
    )
    edges = [e for m in known.values() for e in imports(m, parse(m), known)]
    assert cycles(edges, deferred=True) == [["hala.m", "hala.n"]]
    assert cycles(edges, deferred=False) == []
    # hala.p.y -> hala.p (a name of the package's __init__) and hala.p -> hala.p.x: no cycle unless x needs y
    assert {(e.source, e.target) for e in edges if e.source == "hala.p.y"} == {
        ("hala.p.y", "hala.p.x"),
        ("hala.p.y", "hala.p"),
    }
    assert not [e for e in edges if e.source == "hala.t"]  # TYPE_CHECKING imports never run
