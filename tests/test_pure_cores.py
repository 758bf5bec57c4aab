"""The functional cores import no Django (docs/architecture.md): they are plain modules, tested and benchmarked
alone. Every module of each package below is imported in a fresh interpreter, which must not load Django."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PURE_PACKAGES = [
    "accounts/core",
    "features/core",
    "features/pipeline",
    "explanations/core",
    "scoring/core",
    "scoring/explainers",
    "circuits/core",
    "evaluations/core",
    "gameplay/core",
    "api/neuronpedia/format.py",  # the dump layout: a pure module inside an app
]


def modules_of(package: str) -> list[str]:
    """The dotted names of a package's modules (subpackages included), or of one module given as a file."""
    paths = [ROOT / package] if package.endswith(".py") else (ROOT / package).rglob("*.py")
    return sorted(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for path in paths)


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_every_module_of_a_pure_package_imports_without_django(package):
    modules = modules_of(package)
    assert modules, f"{package} has no modules: is the list above out of date?"
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(name for name in sys.modules if name == 'django' or name.startswith('django.'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{package} loads Django:\n{result.stderr[-2000:]}"
