"""Tests of the package's structure: its import graph, read from the source with `ast`."""

import ast
import pathlib

import pytest

import gencompare

PACKAGE = pathlib.Path(gencompare.__file__).parent
# What training needs: a module importing any of these (or TensorFlow/Keras) can train.
TRAINING_MODULES = ("gencompare.train", "gencompare.experiments", "gencompare.callbacks", "gencompare.models",
                    "gencompare.metrics", "gencompare.data", "gencompare.distribute", "tensorflow", "keras")


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name):
    relative = pathlib.Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").is_file() or (PACKAGE.parent / relative / "__init__.py").is_file()


def imported_modules(path):
    """Every module an import statement of the file names, at any depth (function-level imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                names.add(candidate if is_module(candidate) else node.module)
    return names


def import_graph():
    """`{module: set of gencompare modules it imports}` for every module of the package."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {imported for imported in imported_modules(path) if imported in modules and imported != name}
            for name, path in modules.items()}


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return path[path.index(successor):] + [successor]
            if successor not in state:
                cycle = visit(successor, path + [successor])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_find_cycle_finds_a_planted_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imported_modules_reads_nested_and_from_imports(tmp_path):
    source = tmp_path / "example.py"
    source.write_text("import json\nfrom gencompare import runs\n\ndef f():\n    from gencompare.models import base\n")
    assert imported_modules(source) == {"json", "gencompare.runs", "gencompare.models.base"}


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "gencompare.report" in graph and "gencompare.cli" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_report_imports_nothing_that_trains():
    imported = imported_modules(PACKAGE / "report.py")
    training = sorted(name for name in imported if name.startswith(TRAINING_MODULES))
    assert training == [], training


@pytest.mark.parametrize("module, cap", [("report.py", 450)])
def test_the_report_stays_small(module, cap):
    assert len((PACKAGE / module).read_text().splitlines()) < cap


def test_one_class_per_name_across_the_package():
    """No two modules define a class of the same name (there were two `Experiment`s once)."""
    defined = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.col_offset == 0:
                defined.setdefault(node.name, []).append(module_name(path))
    assert {name: modules for name, modules in defined.items() if len(modules) > 1} == {}
