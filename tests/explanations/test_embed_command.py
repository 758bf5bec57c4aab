from django.core.management import call_command

from explanations.models import RevisionEmbedding

from .conftest import explain


def test_embed_explanations_fills_in_missing_embeddings_of_current_revisions(feature, alice, capsys):
    with_embedding = explain(feature, alice, "cats")
    without = explain(feature, alice, "dogs", embed=False)

    call_command("embed_explanations")

    assert set(RevisionEmbedding.objects.values_list("revision_id", flat=True)) == {
        with_embedding.current_revision_id,
        without.current_revision_id,
    }
    assert "Embedded 1 of 1 revisions." in capsys.readouterr().out
    call_command("embed_explanations")
    assert "Embedded 0 of 0 revisions." in capsys.readouterr().out


def test_rebuild_search_terms_adds_the_words_of_texts_saved_without_the_services(feature, alice, capsys):
    from explanations.models import Comment, ExplanationRevision, SearchTerm

    explanation = explain(feature, alice, "cats", embed=False)
    ExplanationRevision.objects.create(explanation=explanation, text="imported felines")
    Comment.objects.create(feature=feature, author=alice, body="bulk lions")

    call_command("rebuild_search_terms")

    assert {"cats", "imported", "felines", "bulk", "lions"} <= set(SearchTerm.objects.values_list("term", flat=True))
    assert "4 new terms" in capsys.readouterr().out
