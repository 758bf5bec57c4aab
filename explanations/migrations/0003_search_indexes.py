"""Search indexes that only PostgreSQL has: GIN over the stored tsvectors, pg_trgm and trigram GIN indexes
for the typo fallback. On other databases this migration does nothing (search falls back to a simple match)."""

from django.db import migrations

INDEXES = [
    ("explanation_revision_search", "explanations_explanationrevision", "search_vector"),
    ("comment_search", "explanations_comment", "search_vector"),
    ("explanation_revision_text_trgm", "explanations_explanationrevision", "text gin_trgm_ops"),
    ("comment_body_trgm", "explanations_comment", "body gin_trgm_ops"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("explanations", "0002_community")]

    operations = [migrations.RunPython(create, drop)]
