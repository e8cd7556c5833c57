"""The layers of `coffeeshop_tui`, checked on the source (every import, also those inside functions).

- `scenarios` never imports `textual` or `tui` (it measures; the TUI presents);
- `scenarios.web` may use the rest of `scenarios`, never the reverse;
- the widgets never import the command line;
- there is no import cycle anywhere.
"""

from __future__ import annotations

import ast
import os

from conftest import ROOT

PKG = "coffeeshop_tui"


def _modules() -> dict[str, str]:
    """Module name -> file, for every module of the package (folders mapped as pyproject says)."""
    mods = {}
    for top in ("scenarios", "tui"):
        for folder, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(folder, f)
                    name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    name = name.removesuffix(".__init__")
                    mods[f"{PKG}.{name}"] = path
    return mods


def _runtime_nodes(tree: ast.AST):
    """Every node, except those under ``if TYPE_CHECKING:`` (never imported at run time)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _imports(name: str, path: str) -> set[str]:
    """Every absolute name an import statement in the file reaches (relative ones resolved)."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(internal edges between our modules, all imported names) per module."""
    mods = _modules()
    edges: dict[str, set[str]] = {}
    raw: dict[str, set[str]] = {}
    for name, path in mods.items():
        raw[name] = _imports(name, path)
        edges[name] = set()
        for target in raw[name]:
            while target not in mods and "." in target:
                target = target.rpartition(".")[0]
            if target in mods and target != name:
                edges[name].add(target)
    return edges, raw


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_graph_sees_the_package():
    edges, _raw = _graph()
    assert f"{PKG}.scenarios.recorder" in edges and f"{PKG}.tui.app" in edges
    assert f"{PKG}.scenarios.timeline" in edges[f"{PKG}.scenarios.runner"]
    # the cycle finder finds a cycle when there is one
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_scenarios_never_import_textual_or_the_tui():
    _edges, raw = _graph()
    bad = {m: sorted(t for t in targets if t.split(".")[0] in ("textual", "rich")
                     or t.startswith(f"{PKG}.tui") or t.split(".")[0] == "tui")
           for m, targets in raw.items() if m.startswith(f"{PKG}.scenarios")}
    assert not {m: t for m, t in bad.items() if t}


def test_scenarios_core_never_imports_the_web_layer():
    edges, _raw = _graph()
    web = f"{PKG}.scenarios.web"
    bad = {m: sorted(t for t in targets if t == web or t.startswith(web + "."))
           for m, targets in edges.items()
           if m.startswith(f"{PKG}.scenarios") and not (m == web or m.startswith(web + "."))}
    assert not {m: t for m, t in bad.items() if t}


def test_widgets_never_import_the_command_line():
    edges, _raw = _graph()
    cli = {m for m in edges if m.rpartition(".")[2].startswith("cli")}
    bad = {m: sorted(edges[m] & cli) for m in edges if m not in cli and m.startswith(f"{PKG}.tui")}
    assert not {m: t for m, t in bad.items() if t}


def test_no_import_cycles():
    edges, _raw = _graph()
    assert _cycles(edges) == []
