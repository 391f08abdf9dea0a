"""The project's structure rules, read from its own sources with ``ast`` (no project code is imported):

1. no import cycle between project modules, function-level imports included (an import inside a
   function still runs, later, and a cycle there breaks as soon as the call order changes);
2. no module but ``train.py`` imports ``train`` (the command line is not a library);
3. no ``sys.path`` edits outside ``tests/``: the repository is installed code (``pip install -r
   requirements.txt`` installs it in editable mode, see pyproject.toml), so it imports from anywhere;
4. commands import libraries, never the other way: nothing imports a command, i.e. a
   ``__main__.py`` or a module with an ``if __name__ == "__main__":`` block (a top-level script
   such as ``train.py``, or ``python -m pkg.mod``); a script's implementation (``protocols.cli``,
   ``results.cli``) is a library with a ``main()``, and a top-level module without such a block
   (the Python API, ``mudpt.py``) is a library;
5. only the seam, ``engine/seam.py``, imports Dassl.

The import graph built here (``project_modules``, ``imports_of``, ``import_graph``) is meant for
reuse by other structure checks. Imports guarded by ``if TYPE_CHECKING:`` are collected (and count
for rules 2, 4, 5: they still name the module) but are left out of the cycle check: they never run,
so they cannot form an import-time cycle, and they are the standard way to name a type from a module
that imports this one. Dynamic imports (``importlib.import_module(f"...")``, as the registries of
``datasets`` and ``trainers`` do) are not import statements and are not seen, except that rule 5
also catches ``importlib.import_module("dassl...")`` with a literal name.
"""
from __future__ import annotations

import ast
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_SKIPPED_DIRS = {"tests", "__pycache__", "build", "dist"}


def _skipped(part: str) -> bool:
    return part.startswith(".") or part in _SKIPPED_DIRS or part.endswith(".egg-info")


def project_modules(root: Path = REPO) -> dict[str, Path]:
    """Dotted module name -> file, for every project module under ``root``.

    Project modules are the top-level ``*.py`` scripts and every module of the top-level packages
    (folders with an ``__init__.py``, subpackages likewise), ``tests/`` and hidden folders excluded.
    ``pkg/__init__.py`` is ``pkg``; ``pkg/__main__.py`` is ``pkg.__main__``.
    """
    modules: dict[str, Path] = {}
    for path in sorted(root.glob("*.py")):
        modules[path.stem] = path

    def walk_package(folder: Path, dotted: str) -> None:
        for path in sorted(folder.iterdir()):
            if path.is_dir():
                if not _skipped(path.name) and (path / "__init__.py").is_file():
                    walk_package(path, f"{dotted}.{path.name}")
            elif path.suffix == ".py":
                modules[dotted if path.stem == "__init__" else f"{dotted}.{path.stem}"] = path

    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not _skipped(folder.name) and (folder / "__init__.py").is_file():
            walk_package(folder, folder.name)
    return modules


def other_sources(root: Path = REPO) -> list[Path]:
    """The ``*.py`` files outside ``tests/`` and hidden folders that are not project modules
    (stray scripts in ``scripts/``, ``docs/``, ...): rules 2, 3 and 5 hold for them too."""
    known = set(project_modules(root).values())
    return sorted(
        p for p in root.rglob("*.py")
        if p not in known and not any(_skipped(part) for part in p.relative_to(root).parts[:-1])
    )


@dataclass(frozen=True)
class Import:
    """One name imported by one import statement: ``source`` (a dotted module name, or a path
    for a file that is not a project module) imports ``target`` at ``path:line``. ``target`` is
    absolute: the project module it resolves to when it is one, else the dotted name as written
    (``dassl.engine``, ``os.path``)."""

    source: str
    target: str
    path: str  # relative to the repository root
    line: int
    type_checking: bool

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement at any depth, with whether it sits under ``if TYPE_CHECKING:``."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append((node, guarded))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            visit(node.test, guarded)
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, guarded)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """``import a.b.c`` targets ``a.b.c``; when that is no project module but ``a.b`` is one (an
    attribute imported by mistake), the nearest project module; else the name as written."""
    if name in modules:
        return name
    parts = name.split(".")
    for n in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:n]) in modules:
            return ".".join(parts[:n])
    return name


def imports_of(module: str | None, path: Path, modules: dict[str, Path], root: Path = REPO) -> list[Import]:
    """The imports of one file, relative ones resolved against its package.

    ``from pkg import name`` targets ``pkg.name`` when that is a module (``pkg/name.py`` or
    ``pkg/name/__init__.py``), else ``pkg``. No implicit edge to a parent package is added.
    A file that is not a project module (``module`` None) cannot use relative imports; they are
    skipped there. A relative import that climbs above the top level raises ValueError.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = str(path.relative_to(root))
    source = module if module is not None else rel
    is_package = path.name == "__init__.py"
    result: list[Import] = []
    for node, guarded in _import_nodes(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [_resolve(alias.name, modules) for alias in node.names]
        else:
            if node.level:
                if module is None:
                    continue
                package = module.split(".") if is_package else module.split(".")[:-1]
                if node.level - 1 > len(package) - 1 or not package:
                    raise ValueError(f"{rel}:{node.lineno}: relative import above the top-level package")
                base = package[: len(package) - (node.level - 1)]
                full = ".".join(base + ([node.module] if node.module else []))
            else:
                full = node.module or ""
            for alias in node.names:
                sub = f"{full}.{alias.name}"
                targets.append(sub if alias.name != "*" and sub in modules else _resolve(full, modules))
        result += [Import(source, t, rel, node.lineno, guarded) for t in targets]
    return result


def all_imports(root: Path = REPO) -> list[Import]:
    """The imports of every project module."""
    modules = project_modules(root)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules, root)]


def import_graph(root: Path = REPO, *, type_checking: bool = False) -> dict[str, dict[str, list[Import]]]:
    """The project's import graph: ``graph[a][b]`` lists the imports by which module ``a`` imports
    project module ``b`` (every project module is a key). Imports under ``if TYPE_CHECKING:`` are
    included only when ``type_checking`` is true."""
    modules = project_modules(root)
    graph: dict[str, dict[str, list[Import]]] = {name: defaultdict(list) for name in modules}
    for imp in all_imports(root):
        if imp.target in modules and (type_checking or not imp.type_checking):
            graph[imp.source][imp.target].append(imp)
    return {name: dict(succ) for name, succ in graph.items()}


def strongly_connected_components(graph: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit), over ``graph``'s modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def _shortest_cycle(graph: dict[str, dict[str, list[Import]]], start: str, members: set[str]) -> list[str]:
    """The shortest cycle through ``start`` inside one strongly connected component."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in sorted(graph[node]):
            if succ not in members:
                continue
            if succ == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(parent[chain[-1]])
                return list(reversed(chain)) + [start]
            if succ not in parent:
                parent[succ] = node
                queue.append(succ)
    raise AssertionError(f"{start} is on no cycle of its component")


def _chain(graph: dict[str, dict[str, list[Import]]], cycle: list[str]) -> str:
    text = cycle[0]
    for a, b in zip(cycle, cycle[1:]):
        text += f" -[{', '.join(dict.fromkeys(imp.where for imp in graph[a][b]))}]-> {b}"
    return text


def _sources_outside_tests() -> list[tuple[str | None, Path]]:
    modules = project_modules()
    return [(name, path) for name, path in modules.items()] + [(None, p) for p in other_sources()]


def _imports_outside_tests() -> list[Import]:
    modules = project_modules()
    return [imp for name, path in _sources_outside_tests() for imp in imports_of(name, path, modules)]


# ----------------------------------------------------------------------------------------------
# The helpers themselves, on a small tree: a broken helper would pass every rule below.


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_graph_resolves_imports_and_finds_cycles(tmp_path):
    _write(tmp_path, {
        "cmd.py": "import pkg.a\n",
        "pkg/__init__.py": "from . import a\n",
        "pkg/a.py": "def f():\n    from .sub import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "from ..a import thing\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import cmd\n",
        "pkg/c.py": "from pkg import c\nimport os.path\n",
        "pkg/d.py": "from pkg import not_a_module\nimport pkg.c.attr\n",
        "tests/t.py": "import cmd\n",
        ".hidden/h.py": "import cmd\n",
        "loose/x.py": "import sys\n",
    })
    assert sorted(project_modules(tmp_path)) == ["cmd", "pkg", "pkg.a", "pkg.c", "pkg.d", "pkg.sub", "pkg.sub.b"]
    graph = import_graph(tmp_path)
    assert {a: sorted(b) for a, b in graph.items() if b} == {
        "cmd": ["pkg.a"], "pkg": ["pkg.a"], "pkg.a": ["pkg.sub.b"], "pkg.sub.b": ["pkg.a"], "pkg.c": ["pkg.c"], "pkg.d": ["pkg", "pkg.c"],
    }
    assert "cmd" in import_graph(tmp_path, type_checking=True)["pkg.sub.b"]
    assert sorted(c for c in strongly_connected_components(graph) if len(c) > 1) == [["pkg.a", "pkg.sub.b"]]
    assert _shortest_cycle(graph, "pkg.a", {"pkg.a", "pkg.sub.b"}) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    assert other_sources(tmp_path) == [tmp_path / "loose" / "x.py"]


# ----------------------------------------------------------------------------------------------
# The rules.


def test_no_import_cycle():
    graph = import_graph()
    members = {m for m in graph}
    assert {"train", "sweep", "parse_results", "engine.seam", "trainers", "datasets"} <= members, (
        f"project_modules() misses project modules; it found {sorted(members)}"
    )
    self_imports = list(dict.fromkeys(f"{imp.where} ({m} imports itself)" for m, succ in graph.items() for imp in succ.get(m, [])))
    assert not self_imports, "Modules import themselves; drop the import:\n  " + "\n  ".join(self_imports)
    problems = []
    for component in strongly_connected_components(graph):
        if len(component) < 2:
            continue
        cycles = {}
        for start in component:
            cycle = _shortest_cycle(graph, start, set(component))
            cycles.setdefault(frozenset(zip(cycle, cycle[1:])), cycle)
        problems.append(
            f"{len(component)} modules import each other ({', '.join(component)}):\n    "
            + "\n    ".join(_chain(graph, c) for c in cycles.values())
        )
    assert not problems, (
        "Import cycles (function-level imports included); move the shared code into a module that "
        "imports neither side, or remove the import named on one arrow:\n  " + "\n  ".join(problems)
    )


def test_nothing_imports_train():
    offenders = list(dict.fromkeys(
        f"{imp.where} ({imp.source} imports {imp.target})"
        for imp in _imports_outside_tests()
        if imp.source != "train" and (imp.target == "train" or imp.target.startswith("train."))
    ))
    assert not offenders, (
        "train.py is the command line, not a library; move what these modules need from it into a "
        "package module that train.py imports too:\n  " + "\n  ".join(offenders)
    )


def _mutates_sys_path(node: ast.AST) -> bool:
    def is_sys_path(expr: ast.AST) -> bool:
        return (
            isinstance(expr, ast.Attribute) and expr.attr == "path"
            and isinstance(expr.value, ast.Name) and expr.value.id == "sys"
        )

    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_sys_path(node.func.value):
        return node.func.attr in {"insert", "append", "extend", "remove", "pop", "clear", "__setitem__", "__iadd__"}
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        return any(is_sys_path(t) or (isinstance(t, ast.Subscript) and is_sys_path(t.value)) for t in targets)
    if isinstance(node, ast.ImportFrom) and node.module == "sys":
        return any(alias.name == "path" for alias in node.names)
    return False


def test_mutates_sys_path_recognises_the_edits():
    found = [_mutates_sys_path(n) for n in ast.walk(ast.parse(
        "import sys\nsys.path.insert(0, 'x')\nsys.path.append('x')\nsys.path[:0] = ['x']\nsys.path += ['x']\n"
        "sys.path = []\nfrom sys import path\nprint(sys.path[0])\nos.path.join('a')\n"
    ))]
    assert sum(found) == 6


def test_no_sys_path_edits_outside_tests():
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for _, path in _sources_outside_tests()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if _mutates_sys_path(node)
    ]
    assert not offenders, (
        "sys.path edits outside tests/; the repository is installed (pip install -r requirements.txt, "
        "editable), so import the packages directly and run package tools as python -m pkg.mod:\n  "
        + "\n  ".join(offenders)
    )


def _has_main_block(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1:
            sides = [node.test.left, *node.test.comparators]
            if isinstance(node.test.ops[0], ast.Eq) and any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
                isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
            ):
                return True
    return False


def command_modules() -> dict[str, str]:
    """Command module -> why it is one: a top-level script (it has an ``if __name__ == "__main__":``
    block), a ``__main__`` module, or a module run with ``python -m`` (it has such a block)."""
    commands = {}
    for name, path in project_modules().items():
        if path.parent == REPO and _has_main_block(path):
            commands[name] = "a top-level script"
        elif name.endswith(".__main__"):
            commands[name] = "a __main__ module"
        elif _has_main_block(path):
            commands[name] = 'run as python -m (it has an if __name__ == "__main__": block)'
    return commands


def test_commands_import_libraries_never_the_other_way():
    commands = command_modules()
    assert {"train", "sweep", "parse_results", "predict", "export", "analysis.__main__"} <= set(commands), sorted(commands)
    assert "mudpt" not in commands, "mudpt.py is the Python API: a library (no __main__ block)"
    assert "protocols.cli" not in commands and "results.cli" not in commands, (
        "protocols/cli.py and results/cli.py implement sweep.py and parse_results.py: libraries with a "
        'main(), which need no if __name__ == "__main__": block'
    )
    offenders = list(dict.fromkeys(  # one line per import statement
        f"{imp.where}: {imp.source} imports {imp.target}, {commands[imp.target]}"
        for imp in all_imports()
        if imp.target in commands and imp.source != imp.target
    ))
    assert not offenders, (
        "Modules import a command; move what they need out of the command into a library module that "
        "both import (the command keeps its argument parsing and main()):\n  " + "\n  ".join(offenders)
    )


def _dynamic_import_names(tree: ast.AST) -> list[tuple[str, int]]:
    """``importlib.import_module("x")`` / ``import_module("x")`` / ``__import__("x")`` with a literal name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name in {"import_module", "__import__"}:
                found.append((node.args[0].value, node.lineno))
    return found


def test_only_the_seam_imports_dassl():
    def is_dassl(name: str) -> bool:
        return name == "dassl" or name.startswith("dassl.")

    offenders = list(dict.fromkeys(
        f"{imp.where} ({imp.source} imports {imp.target})"
        for imp in _imports_outside_tests()
        if imp.source != "engine.seam" and is_dassl(imp.target)
    ))
    seam_imports = [imp for imp in all_imports() if imp.source == "engine.seam" and is_dassl(imp.target)]
    assert seam_imports, "engine/seam.py imports no dassl module: the scan for Dassl imports is broken"
    for name, path in _sources_outside_tests():
        if name != "engine.seam":
            offenders += [
                f"{path.relative_to(REPO)}:{line} (import_module({target!r}))"
                for target, line in _dynamic_import_names(ast.parse(path.read_text(encoding="utf-8")))
                if is_dassl(target)
            ]
    assert not offenders, (
        "Only engine/seam.py imports Dassl; import the symbol from engine.seam instead (add it to the "
        "seam's exports, for both backends, if it is not there):\n  " + "\n  ".join(offenders)
    )
