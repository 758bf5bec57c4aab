"""DATABASE_URL names SQLite as well as PostgreSQL: sqlite:///relative (from the working directory) and
sqlite:////absolute open that file with the SQLite options (WAL, busy timeout), never PostgreSQL's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

REPORT = """
import json, django
django.setup()
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal = cursor.fetchone()[0]
database = settings.DATABASES["default"]
print(json.dumps({"engine": database["ENGINE"], "name": str(database["NAME"]), "journal": journal,
                  "options": sorted(database.get("OPTIONS", {}))}))
"""


def settings_under(url: str, cwd: Path, var_dir: Path) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "neuronpedia.settings", "DJANGO_DEBUG": "1",
           "NEURONPEDIA_VAR_DIR": str(var_dir), "PYTHONPATH": str(ROOT), "NEURONPEDIA_WARM": "0"}  # fmt: skip
    env.pop("SQLITE_PATH", None)
    result = subprocess.run(
        [sys.executable, "-c", REPORT], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_a_sqlite_url_opens_that_file_with_the_sqlite_options(form, tmp_path):
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    expected = work / "data" / "site.sqlite3"
    url = "sqlite:///data/site.sqlite3" if form == "relative" else f"sqlite:///{expected}"
    assert url.startswith("sqlite:////") == (form == "absolute")

    database = settings_under(url, cwd=work, var_dir=tmp_path / "var")

    assert database["engine"] == "django.db.backends.sqlite3" and database["name"] == str(expected)
    assert database["journal"] == "wal" and "prepare_threshold" not in database["options"]
    assert expected.is_file() and not (tmp_path / "var" / "db.sqlite3").exists()
