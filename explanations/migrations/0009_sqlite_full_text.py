"""Ranked full-text search on SQLite: one FTS5 index over every revision's text and every comment's body
(porter stemming, as PostgreSQL's english configuration stems), kept in step by triggers and filled from the
texts already written. SQLite only: PostgreSQL has its tsvector columns (0002, 0003).

One index for both kinds, so that bm25() ranks them on one scale (its word weights come from the whole
index), as ts_rank does on PostgreSQL. A revision's rowid there is 2 * its id, a comment's 2 * its id + 1.
The index keeps its own copy of the texts, which highlight() and snippet() read.

Note for later migrations: when Django's SQLite schema editor remakes one of the two tables (most AlterField
operations do), the table's triggers go with it; run install() again after such an operation
(tests/explanations/test_search_sqlite.py checks that the triggers exist).
"""

from django.db import migrations

FTS5_TABLE = "explanations_search_fts"
TOKENIZER = "porter unicode61 remove_diacritics 0"
INDEXED = [
    # (table, its text column, the parity of its rows' rowids in the index)
    ("explanations_explanationrevision", "text", 0),
    ("explanations_comment", "body", 1),
]


def statements() -> list[str]:
    fts = FTS5_TABLE
    result = [f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(text, tokenize='{TOKENIZER}')"]
    for table, column, parity in INDEXED:
        result += [
            f"CREATE TRIGGER IF NOT EXISTS {table}_fts_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts}(rowid, text) VALUES (2 * new.id + {parity}, new.{column}); END",
            f"CREATE TRIGGER IF NOT EXISTS {table}_fts_delete AFTER DELETE ON {table} BEGIN "
            f"DELETE FROM {fts} WHERE rowid = 2 * old.id + {parity}; END",
            f"CREATE TRIGGER IF NOT EXISTS {table}_fts_update AFTER UPDATE OF {column} ON {table} BEGIN "
            f"UPDATE {fts} SET text = new.{column} WHERE rowid = 2 * new.id + {parity}; END",
            f"DELETE FROM {fts} WHERE (rowid & 1) = {parity}",
            f"INSERT INTO {fts}(rowid, text) SELECT 2 * id + {parity}, {column} FROM {table}",
        ]
    return result


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in statements():
        schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for table, _, _ in INDEXED:
        for event in ("insert", "delete", "update"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{event}")
    schema_editor.execute(f"DROP TABLE IF EXISTS {FTS5_TABLE}")


class Migration(migrations.Migration):

    dependencies = [
        ("explanations", "0008_votes_bound_to_revisions"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
