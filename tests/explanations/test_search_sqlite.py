"""SQLite's full-text index (migration 0009): one FTS5 table over revisions and comments, kept in step by
triggers whatever writes the texts, filled from the texts already written, and driving the search's query."""

import importlib
import re
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from explanations import search_results
from explanations.models import Comment, ExplanationRevision
from explanations.search import FTS5_TABLE
from explanations.services import comments as comment_services
from explanations.services import explanations as explanation_services

from .conftest import explain

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 index is SQLite's")

migration = importlib.import_module("explanations.migrations.0009_sqlite_full_text")


def hit_links(client, query: str) -> list[str]:
    html = client.get(reverse("front:search"), {"q": query}).text
    return re.findall(r'<a class="feature-ref" href="([^"]+)">', html)


def test_the_index_and_its_triggers_exist_after_every_migration(db):
    """A later migration that remakes the revision or comment table drops its triggers; this says so."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, name FROM sqlite_master WHERE name LIKE %s", ["%fts%"])
        names = {(kind, name) for kind, name in cursor.fetchall()}

    assert ("table", FTS5_TABLE) in names
    for table in ("explanations_explanationrevision", "explanations_comment"):
        for event in ("insert", "update", "delete"):
            assert ("trigger", f"{table}_fts_{event}") in names


def test_the_index_follows_every_write_however_it_is_made(feature, alice, bob, client):
    revised = explain(feature, alice, "a black cat", embed=False)
    explanation_services.explanation_revise(explanation=revised, author=alice, text="a white dog", embed=False)
    updated = explain(feature, alice, "numbers", embed=False)
    ExplanationRevision.objects.filter(pk=updated.current_revision_id).update(text="dates and times")
    comment = comment_services.comment_post(author=bob, feature=feature, body="a grey mouse")
    removed = comment_services.comment_post(author=bob, feature=feature, body="a purple owl")
    Comment.objects.filter(pk=removed.pk).delete()

    assert hit_links(client, "cat") == []
    assert hit_links(client, "white dog") == [f"/tiny/0-mlp/3/#explanation-{revised.pk}"]
    assert hit_links(client, "numbers") == []
    assert hit_links(client, "dates") == [f"/tiny/0-mlp/3/#explanation-{updated.pk}"]
    assert hit_links(client, "mouse") == [f"/tiny/0-mlp/3/#comment-{comment.pk}"]
    assert hit_links(client, "owl") == []


def test_the_migration_fills_the_index_from_the_texts_already_written(feature, alice, bob, client):
    # The schema editor cannot run inside a test's transaction on SQLite; the migration needs only these two.
    editor = SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    migration.uninstall(None, editor)
    explanation = explain(feature, alice, "written before the index", embed=False)
    comment = comment_services.comment_post(author=bob, feature=feature, body="also written before")

    migration.install(None, editor)

    assert hit_links(client, "written before") == [
        f"/tiny/0-mlp/3/#explanation-{explanation.pk}",
        f"/tiny/0-mlp/3/#comment-{comment.pk}",
    ]


def test_the_index_drives_the_search_and_rows_are_found_by_key(feature, alice, bob):
    explain(feature, alice, "a black cat", embed=False)
    comment_services.comment_post(author=bob, feature=feature, body="a black dog")

    with CaptureQueriesContext(connection) as queries:
        results = search_results.search_wiki(query="black")

    assert len(results.hits) == 2
    for query in queries.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
            steps = [row[3] for row in cursor.fetchall()]
        scans = [step for step in steps if step.startswith("SCAN") and "subquery" not in step and step != "SCAN top"]
        assert scans and all(step.startswith(f"SCAN {FTS5_TABLE} VIRTUAL TABLE") for step in scans), steps
