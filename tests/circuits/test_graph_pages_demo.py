"""The demo's graphs (build_demo's last step): features whose top examples peak on one token, each traced on a
prompt cut from its top example to its peak, ending at the feature there; the home page links them."""

import pytest
from transformers import AutoTokenizer

from circuits.models import Graph
from circuits.services.demo_graphs import demo_graph_targets, demo_graphs_build, last_content_position
from explanations.services.explanations import explanation_create
from features.models import ActivationExample, ContextWindow, Feature, pack_floats
from features.services.registration import dictionary_register, model_register
from tests.conftest import save_tiny_dictionary

TEXTS = ["the black cat sat on the mat", "a white cat ran home", "my old cat slept", "one cat and a dog"]


@pytest.fixture
def bert_sae(db, tiny_bert_dir, tmp_path):
    model = model_register(slug="tiny-bert", path=str(tiny_bert_dir))
    directory = save_tiny_dictionary(
        tmp_path / "sae", "standard", d_in=32, d_sae=16, hook_name="blocks.2.hook_resid_pre"
    )
    return dictionary_register(model=model, path=str(directory), slug="2-res")


def give_examples(source, index: int, texts: list[str], peak_word: str | None, *, explanation: str = "") -> Feature:
    """Top examples on the texts, each peaking on peak_word (or on its first word when None)."""
    tokenizer = AutoTokenizer.from_pretrained(source.model.path)
    feature = Feature.objects.create(source=source, index=index, max_activation=2.0 + index)
    for rank, text in enumerate(texts):
        ids = tokenizer(text)["input_ids"]
        tokens = tokenizer.convert_ids_to_tokens(ids)
        tokens = [t if t.startswith("[") else " " + t for t in tokens]
        peak = tokens.index(" " + peak_word) if peak_word else 1
        window = ContextWindow.objects.create(
            model=source.model, corpus_key="k", position=index * 100 + rank, token_ids=ids, tokens=tokens
        )
        values = [0.0] * len(ids)
        values[peak] = 2.0
        ActivationExample.objects.create(
            feature=feature, window=window, rank=rank, values=pack_floats(values), max_value=2.0, max_token_index=peak
        )
    if explanation:
        explanation_create(feature=feature, text=explanation, method="token-stats", embed=False)
    return feature


def test_features_peaking_on_one_token_are_chosen_with_a_prompt_ending_at_the_peak(bert_sae):
    give_examples(bert_sae, 3, TEXTS, "cat", explanation="the word cat")
    give_examples(bert_sae, 4, TEXTS, None, explanation="the first word")  # peaks on four different words
    # Clear but not explained yet: chosen too, since build_demo computes its graphs before the explain runs end.
    give_examples(bert_sae, 5, TEXTS, "cat")
    give_examples(bert_sae, 6, TEXTS[:2], "cat", explanation="cat")  # too few examples
    targets = {t.feature.index: t for t in demo_graph_targets(bert_sae)}
    assert sorted(targets) == [3, 5]
    assert (targets[3].token, targets[3].share, targets[3].prompt) == ("cat", 1.0, "the black cat")
    assert (targets[3].explanation, targets[5].explanation) == ("the word cat", "")


def test_the_demo_graphs_end_at_the_chosen_feature_and_are_built_once(bert_sae, client):
    give_examples(bert_sae, 3, TEXTS, "cat", explanation="the word cat")
    said = []
    graphs = demo_graphs_build(source=bert_sae, say=said.append)
    assert len(graphs) == 1, said
    graph = graphs[0]
    target = next(n for n in graph.data["nodes"] if n["is_target_logit"])
    assert (target["source"], target["index"]) == ("2-res", 3)
    assert target["ctx_idx"] == last_content_position(bert_sae.model, "the black cat") == 3  # [CLS] the black cat
    assert graph.title == "Why 2-res:3 fires on “cat”" and "the word cat" in graph.description
    assert demo_graphs_build(source=bert_sae, say=said.append)[0].pk == graph.pk
    assert Graph.objects.count() == 1
    home = client.get("/").content.decode()
    assert "How features connect" in home and f'href="{graph.get_absolute_url()}"' in home


def test_a_prompt_is_cut_from_one_document_and_keeps_its_last_tokens():
    from types import SimpleNamespace

    from circuits.services.demo_graphs import PROMPT_TOKENS, _prompt
    from features.pipeline.corpus import DOCUMENT_BREAK

    tokens = ["[CLS]", "old", " text", DOCUMENT_BREAK, "the", " black", " cat", " sat"]
    example = SimpleNamespace(window=SimpleNamespace(tokens=tokens), max_token_index=6)
    assert _prompt(example) == "the black cat"
    long = SimpleNamespace(window=SimpleNamespace(tokens=[f" w{i}" for i in range(30)]), max_token_index=29)
    assert _prompt(long).split() == [f"w{i}" for i in range(30 - PROMPT_TOKENS, 30)]
