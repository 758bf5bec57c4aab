"""The functional core's promise, checked: every module of a package imports in a fresh interpreter without
loading Django, so that it can be used, tested and benchmarked alone."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules_of(package: str) -> list[str]:
    """Every module of a package (its directory under the repository root), subpackages included."""
    directory = ROOT / package.replace(".", "/")
    names = []
    for path in sorted(directory.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def django_loaded_by_importing(modules: list[str]) -> list[str]:
    """The django modules a fresh interpreter has loaded after importing `modules` (none, for a pure core)."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(name for name in sys.modules if name == 'django' or name.startswith('django.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
