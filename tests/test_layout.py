"""The layout shows the data flow: packages import downward only (web -> api/notify -> actions
-> delivery/browse/sync -> people -> models -> kore), and no module imports another that imports it
back, lazily or not. Imports only for type checking (``if TYPE_CHECKING:``) are not made at run
time and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

CASES = Path(__file__).resolve().parent.parent / "cases"
# Lower numbers are further down: a module may import its own layer and the ones below it.
LAYERS = {
    "crypto": 0,
    "kore": 0,
    "models": 1,
    "people": 2,
    "delivery": 3,
    "browse": 3,
    "sync": 3,
    "actions": 4,
    "api": 5,
    "sso": 5,
    # Reads what delivery, the sync and the actions record (CaseEvent rows); they never import it.
    "notify": 5,
    "web": 6,
    "admin": 7,
    "apps": 7,
    "management": 7,
}
MAX_MODULE_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(CASES.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(tree: ast.AST) -> set[str]:
    """Every ``cases…`` module imported anywhere in the tree, except under ``if TYPE_CHECKING``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cases"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("cases"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = [path for path in CASES.rglob("*.py") if "migrations" not in path.parts]
    modules = {module_name(path): path for path in paths}
    return {
        name: {
            imported
            for imported in runtime_imports(ast.parse(path.read_text()))
            # a package's __init__ may gather its own submodules
            if imported in modules and imported != name and not imported.startswith(name + ".")
        }
        for name, path in modules.items()
    }


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    cycles, done = [], set()

    def walk(module: str, path: list[str]) -> None:
        for imported in graph[module]:
            if imported in path:
                cycles.append(path[path.index(imported) :] + [imported])
            elif imported not in done:
                walk(imported, [*path, imported])
        done.add(module)

    for module in graph:
        walk(module, [module])
    assert cycles == []


def test_packages_import_downward_only():
    def layer(module: str) -> int | None:
        parts = module.split(".")
        return LAYERS.get(parts[1]) if len(parts) > 1 else None

    upward = [
        (module, imported)
        for module, imports in import_graph().items()
        for imported in imports
        if layer(module) is not None and layer(imported) is not None and layer(imported) > layer(module)
    ]
    assert upward == []


def test_no_module_is_longer_than_the_guide_allows():
    long = {
        module_name(path): lines
        for path in CASES.rglob("*.py")
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
