"""Ranked full-text search on SQLite: an FTS5 index over every revision's text and every comment's body
(porter stemming, as PostgreSQL's english configuration stems), kept in step by triggers and filled from the
texts already written. SQLite only: PostgreSQL has its tsvector columns (0002, 0003).

The indexes are external-content FTS5 tables (they store the index, not a second copy of the text). Note for
later migrations: when Django's SQLite schema editor remakes one of these two tables (most AlterField
operations do), the table's triggers go with it; call install() again after such an operation
(tests/explanations/test_search_sqlite.py checks the triggers exist).
"""

from django.db import migrations

TOKENIZER = "porter unicode61 remove_diacritics 0"
INDEXED = [
    # (FTS5 table, content table, its text column)
    ("explanations_revision_fts", "explanations_explanationrevision", "text"),
    ("explanations_comment_fts", "explanations_comment", "body"),
]


def statements(fts: str, table: str, column: str) -> list[str]:
    delete = f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});"
    insert = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({column}, content='{table}', content_rowid='id', "
        f"tokenize='{TOKENIZER}')",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_update AFTER UPDATE OF {column} ON {table} BEGIN {delete} {insert} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for fts, table, column in INDEXED:
        for statement in statements(fts, table, column):
            schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for fts, _, _ in INDEXED:
        for suffix in ("insert", "delete", "update"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        schema_editor.execute(f"DROP TABLE IF EXISTS {fts}")


class Migration(migrations.Migration):

    dependencies = [
        ("explanations", "0008_votes_bound_to_revisions"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
