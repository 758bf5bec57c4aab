import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_scoring_core_and_the_explainers_import_without_django():
    code = (
        "import sys\n"
        "import scoring.core.scorers, scoring.core.formats, scoring.core.llm_judge, scoring.core.synthetic\n"
        "import scoring.core.mining, scoring.core.meaning\n"
        "import scoring.explainers\n"
        "loaded = sorted(name for name in sys.modules if name == 'django' or name.startswith('django.'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
