"""The package imports without cycles (issue #12): every import of every module counts, at the
top or inside a function (an import moved into a function only hides a cycle until that function
runs); only `if TYPE_CHECKING:` blocks are left out, as they never run."""

from __future__ import annotations

import ast
from pathlib import Path

import wistia_pipeline

PACKAGE = Path(wistia_pipeline.__file__).parent
NAME = "wistia_pipeline"


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported(tree: ast.AST):
    """Every Import and ImportFrom node, at any depth, outside `if TYPE_CHECKING:` blocks."""
    for node in ast.iter_child_nodes(tree):
        if _is_type_checking(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from imported(node)


def targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, names: dict[str, Path]) -> set[str]:
    """The package's modules that `node` (in `module`) loads, each as its innermost known module."""
    if isinstance(node, ast.Import):
        candidates = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        # `from pkg import sub` loads pkg.sub when it is a module, else a name of pkg.
        candidates = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in names else source
                      for alias in node.names]
    found = set()
    for candidate in candidates:
        while candidate and candidate not in names:
            candidate = candidate.rpartition(".")[0]
        if candidate and candidate != module:
            found.add(candidate)
    return found


def import_graph() -> dict[str, set[str]]:
    names = module_names()
    graph = {}
    for module, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = set()
        for node in imported(tree):
            graph[module] |= targets(module, path.name == "__init__.py", node, names)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per edge that closes one (depth-first search), each as a path back to its start."""
    found, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return found


def test_the_graph_sees_imports_in_functions_and_skips_type_checking():
    graph = import_graph()
    assert "wistia_pipeline.definitions" in graph["wistia_pipeline.cli"]  # imported inside a function
    assert "wistia_pipeline.sandbox.runner" not in graph["wistia_pipeline.sandbox.demo"]  # TYPE_CHECKING only
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_package_has_no_import_cycles():
    assert [" -> ".join(cycle) for cycle in cycles(import_graph())] == []
