"""The local-transformers explainer on a tiny random GPT-2 saved on disk: gibberish, but real generation."""

import pytest

from scoring.core.records import ActivationRecord
from scoring.explainers import ExplainerError, get_explainer

RECORDS = [
    ActivationRecord(["the", "black", "cat", "sat", "down"] * 6, [0, 0, 4.0, 0, 0] * 6),
    ActivationRecord(["a", "white", "cat"], [0, 0, 2.0]),
]

pytestmark = pytest.mark.slow


def test_it_generates_an_explanation_and_records_method_and_model(tiny_gpt2_dir):
    explanation = get_explainer("local-transformers", model_path=str(tiny_gpt2_dir), max_new_tokens=12).explain(RECORDS)
    assert explanation.text.strip()
    assert explanation.method == "local-transformers" and explanation.model == tiny_gpt2_dir.name
    assert explanation.metadata["prompt_tokens"] <= 128 - 12, "the prompt is cut to the model's context"


def test_it_is_deterministic_for_a_seed(tiny_gpt2_dir):
    def explain(seed):
        explainer = get_explainer(
            "local-transformers", model_path=str(tiny_gpt2_dir), max_new_tokens=12, temperature=1.0, seed=seed
        )
        return explainer.explain(RECORDS).text

    assert explain(1) == explain(1)
    assert len({explain(1), explain(2), explain(3)}) > 1, "sampling does depend on the seed"


def test_it_refuses_a_directory_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ExplainerError, match="is not a local transformers checkpoint"):
        get_explainer("local-transformers", model_path=str(tmp_path)).explain(RECORDS)
    with pytest.raises(ExplainerError, match="Give the local model's directory"):
        get_explainer("local-transformers", model_path="")


def test_it_refuses_a_model_that_cannot_generate(tiny_bert_dir):
    with pytest.raises(ExplainerError, match="holds a BertModel, not a causal language model"):
        get_explainer("local-transformers", model_path=str(tiny_bert_dir)).explain(RECORDS)
