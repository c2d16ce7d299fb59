"""The layers import one way: `happening` (the composition root) -> `api` (HTTP) -> `happening_engine`;
and no package's modules import each other in a circle. Read from the source (imports under
`TYPE_CHECKING` are annotations only and do not count; imports inside functions do)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("happening", "api", "happening_engine")
LAYER = {"happening": 2, "api": 1, "happening_engine": 0}  # a module imports only its own layer or lower


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text())
    annotations_only = {id(node) for block in ast.walk(tree)
                        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                        for statement in block.body for node in ast.walk(statement)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in annotations_only:
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else [])) if node.level else str(node.module)
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in out if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_layers_import_downwards_only() -> None:
    upward = sorted((name, target) for name, targets in _graph().items() for target in targets
                    if LAYER[target.split(".")[0]] > LAYER[name.split(".")[0]])
    assert upward == []


def test_no_module_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The reader finds what it must: a relative import resolved, a TYPE_CHECKING one skipped."""
    modules = {"api.a": tmp_path / "a.py", "happening_engine.x": tmp_path / "x.py", "api.b": tmp_path / "b.py"}
    (tmp_path / "a.py").write_text("from typing import TYPE_CHECKING\nfrom .b import f\n"
                                   "if TYPE_CHECKING:\n    from happening_engine import x\n")
    assert _imports("api.a", modules["api.a"], modules) == {"api.b"}


def test_the_benchmarks_import_neither_the_tests_nor_pytest() -> None:
    """tests may use loadtests (loadtests/fixtures.py, the throwaway recipe), never the other way round."""
    wrong = []
    for path in sorted((ROOT / "loadtests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [str(node.module)] if isinstance(node, ast.ImportFrom) and not node.level else [])
            wrong += [(path.name, n) for n in names if n.split(".")[0] in ("tests", "pytest", "_pytest")]
    assert wrong == []
