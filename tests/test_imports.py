"""The package's import graph: acmnet/data/ never reaches acmnet/evaluate/, and no module imports itself back.

The graph is read with `ast` from the sources, so it holds every import a module can run: module-level
ones and those inside functions alike. Imports under `if TYPE_CHECKING:` are left out: they never run
(annotations are strings under `from __future__ import annotations`), so they make no import cycle.
`from acmnet.x import y` counts as an import of `acmnet.x.y` when that is a module of the package, else of
`acmnet.x`; relative imports are resolved against the module.
"""

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "acmnet"


def package_modules(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Dotted module name -> source file, for every .py file under the package (packages as `a.b`)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of dotted `name` that is a package module, or None outside the package."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` but those inside the body of an `if TYPE_CHECKING:` (its `else` runs)."""
    nodes, pending = [], [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        children = node.orelse if _is_type_checking(node) else list(ast.iter_child_nodes(node))
        pending.extend(children)
    return nodes


def imported_modules(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that `module` (source at `path`) imports anywhere in its body."""
    is_package = path.name == "__init__.py"
    targets = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        targets |= {resolved for name in names if (resolved := _resolve(name, modules))}
    targets.discard(module)
    return targets


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = package_modules()
    return {module: imported_modules(module, path, modules) for module, path in modules.items()}


def _without_ancestors(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop the edges to a module's own parent packages: importing `a.b.c` runs `a/__init__` and `a/b/__init__`
    first, so an edge `a.b.c -> a.b` only says the package's __init__ is a dependency, not a cycle of names."""
    return {
        module: {target for target in targets if not module.startswith(target + ".")}
        for module, targets in graph.items()
    }


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted, the list sorted."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                lowlink[node] = min(lowlink[node], lowlink[target])
            elif target in on_stack:
                lowlink[node] = min(lowlink[node], index[target])
        if lowlink[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def test_the_walk_sees_function_level_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import leaf\n")
    (package / "sub" / "leaf.py").write_text("def f():\n    from ..top import g\n    import pkg.sub\n")
    (package / "top.py").write_text(
        "from typing import TYPE_CHECKING\nfrom pkg.sub.leaf import f\nimport os\n"
        "if TYPE_CHECKING:\n    from pkg import sub\nelse:\n    import pkg.other\n"
    )
    (package / "other.py").write_text("")
    modules = package_modules(package)
    assert imported_modules("pkg.sub", modules["pkg.sub"], modules) == {"pkg.sub.leaf"}
    assert imported_modules("pkg.sub.leaf", modules["pkg.sub.leaf"], modules) == {"pkg.top", "pkg.sub"}
    assert imported_modules("pkg.top", modules["pkg.top"], modules) == {"pkg.sub.leaf", "pkg.other"}
    graph = {module: imported_modules(module, path, modules) for module, path in modules.items()}
    assert import_cycles(_without_ancestors(graph)) == [["pkg.sub.leaf", "pkg.top"]]


def test_data_never_imports_evaluate():
    reaching = {
        module: sorted(target for target in targets if target.startswith("acmnet.evaluate"))
        for module, targets in import_graph().items()
        if module.startswith("acmnet.data")
    }
    assert {module: targets for module, targets in reaching.items() if targets} == {}


def test_no_import_cycle_among_acmnet_modules():
    assert import_cycles(_without_ancestors(import_graph())) == []
