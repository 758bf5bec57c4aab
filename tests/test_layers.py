"""The house rule (docs/architecture.md): data flows one way and so do imports. Each app may import only the
apps below it, at module level or inside a function; the project package (neuronpedia/) imports no app."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. Apps on one layer do not import each other either.
LAYERS = [
    ["accounts"],
    ["features"],
    ["explanations"],
    ["scoring"],
    ["circuits", "evaluations"],
    ["gameplay", "api", "front"],
]
LEVEL = {app: level for level, apps in enumerate(LAYERS) for app in apps}
PROJECT_PACKAGE = "neuronpedia"


def imported_names(tree: ast.AST):
    """(line, dotted name) of every absolute import in the module, wherever it stands."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def upward_imports() -> list[str]:
    found = []
    for package in [*LEVEL, PROJECT_PACKAGE]:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for line, name in imported_names(ast.parse(path.read_text(), filename=str(path))):
                target = name.split(".")[0]
                if target not in LEVEL or target == package:
                    continue
                if package == PROJECT_PACKAGE or LEVEL[target] >= LEVEL[package]:
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


def test_every_app_is_listed_in_a_layer():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(LEVEL), f"apps not in LAYERS or gone: {sorted(apps ^ set(LEVEL))}"


def test_no_module_imports_an_app_above_it_or_beside_it():
    found = upward_imports()
    assert not found, "imports against the layers (see docs/architecture.md):\n" + "\n".join(found)


def test_the_check_sees_an_import_hidden_inside_a_function(tmp_path):
    source = "def view():\n    from scoring.services import run_resume\n    return run_resume\n"
    names = [name for _, name in imported_names(ast.parse(source))]
    assert names == ["scoring.services"]
