"""The local-model simulator (OpenAI's all-at-once method run by a causal LM on disk) on tiny random GPT-2s:
gibberish answers, but the code path, the probabilities it reads and the expected values are real."""

import json
import math

import pytest
import torch
from django.core.management import CommandError, call_command
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from explanations.models import Explanation
from features.models import PipelineRun, Source
from features.services.runs import run_enqueue
from scoring.core.errors import JudgeError, ScoringInputError
from scoring.core.llm_judge import marked_text
from scoring.core.local_lm import DETECT_ONE, FUZZ_ONE, LocalLMJudge, check_model_path, local_lm_judge
from scoring.core.records import window_text
from scoring.core.scorers import get_scorer
from scoring.core.synthetic import COLOUR_CAT, generate_corpus, planted_example_set
from scoring.models import ExplanationScore
from scoring.services.runs import PipelineRequestError, explain_run_create, score_run_create
from tests.conftest import MINILM_DIR

pytestmark = pytest.mark.slow

WINDOW = ["the", "black", "cat", "sat", "down"]


def _save_gpt2(directory, tokenizer, vocab_size: int, n_positions: int = 512):
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=2, n_positions=n_positions)
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def wordpiece_lm_dir(tmp_path_factory):
    """MiniLM's WordPiece tokenizer: each of 0..10 is one token."""
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True)
    return _save_gpt2(tmp_path_factory.mktemp("lm-wordpiece"), tokenizer, tokenizer.vocab_size)


@pytest.fixture(scope="module")
def digit_lm_dir(tmp_path_factory):
    """A word-level tokenizer that splits numbers into digits, as Llama's and Qwen's do: 10 is "1" "0"."""
    words = "[UNK] [PAD] 0 1 2 3 4 5 6 7 8 9 yes no unknown the black cat sat down : . , ? ( ) < > - _ ' \"".split()
    core = Tokenizer(models.WordLevel({word: i for i, word in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]")
    return _save_gpt2(tmp_path_factory.mktemp("lm-digits"), tokenizer, len(words))


def _slot_distribution(judge: LocalLMJudge, ids: list[int], slot: int) -> torch.Tensor:
    with torch.inference_mode():
        return torch.softmax(judge.model(torch.tensor([ids[:slot]])).logits[0, -1].float(), dim=-1)


def test_it_simulates_expected_values_of_the_numbers_0_to_10(wordpiece_lm_dir):
    judge = local_lm_judge(str(wordpiece_lm_dir))
    assert judge.name == f"local-transformers:{wordpiece_lm_dir.name}"
    [simulated] = judge.simulate("the word cat after a colour", [WINDOW])
    assert len(simulated) == len(WINDOW) and all(0 <= value <= 10 for value in simulated)

    # Independently: the softmax at each placeholder, over the ids of "0".."10", renormalised.
    ids, slots = judge.simulation_inputs("the word cat after a colour", WINDOW)
    number_ids = [judge.tokenizer.convert_tokens_to_ids(str(value)) for value in range(11)]
    for slot, value in zip(slots, simulated, strict=True):
        p = _slot_distribution(judge, ids, slot)[number_ids].double()
        assert value == pytest.approx(float((p / p.sum() * torch.arange(11)).sum()), abs=1e-6)


def test_in_bfloat16_it_simulates_within_a_tenth_of_float32(wordpiece_lm_dir):
    """The model in bfloat16 (--dtype, NEURONPEDIA_DTYPE): its answers are read in float32 on the CPU, and stay
    within 0.1 on the 0-10 scale of float32's on this model (bfloat16 keeps 8 bits of mantissa)."""
    full = local_lm_judge(str(wordpiece_lm_dir))
    half = local_lm_judge(str(wordpiece_lm_dir), "cpu", "bfloat16")
    assert half.model.dtype == torch.bfloat16 and full.model.dtype == torch.float32
    [expected] = full.simulate("the word cat after a colour", [WINDOW])
    [got] = half.simulate("the word cat after a colour", [WINDOW])
    assert got == pytest.approx(expected, abs=0.1)
    assert half.detect("cats", [WINDOW])[0] == pytest.approx(full.detect("cats", [WINDOW])[0], abs=0.05)


def test_its_number_probabilities_are_probabilities(wordpiece_lm_dir):
    judge = local_lm_judge(str(wordpiece_lm_dir))
    for probabilities in judge.number_probabilities("the word cat", WINDOW):
        assert set(probabilities) == set(range(11))
        assert all(p >= 0 for p in probabilities.values()) and 0 < sum(probabilities.values()) <= 1 + 1e-6


def test_it_splits_the_probability_of_1_between_1_and_10_when_10_is_two_tokens(digit_lm_dir):
    judge = local_lm_judge(str(digit_lm_dir))
    one, zero = judge.tokenizer.convert_tokens_to_ids(["1", "0"])
    assert judge._numbers[10] == (one, zero) and judge._numbers[1] == (one,)
    ids, slots = judge.simulation_inputs("the word cat", WINDOW)
    probabilities = judge.number_probabilities("the word cat", WINDOW)
    for slot, answer in zip(slots, probabilities, strict=True):
        first = _slot_distribution(judge, ids, slot)
        after_one = _slot_distribution(judge, ids[:slot] + [one], slot + 1)
        assert answer[10] == pytest.approx(float(first[one] * after_one[zero]), rel=1e-4)
        assert answer[1] == pytest.approx(float(first[one] * (1 - after_one[zero])), rel=1e-4)
        assert answer[0] == pytest.approx(float(first[zero]), rel=1e-4)
    [simulated] = judge.simulate("the word cat", [WINDOW])
    for answer, value in zip(probabilities, simulated, strict=True):
        assert value == pytest.approx(sum(v * p for v, p in answer.items()) / sum(answer.values()), abs=1e-6)


def test_detection_and_fuzzing_read_yes_against_no(wordpiece_lm_dir):
    judge = local_lm_judge(str(wordpiece_lm_dir))
    [detected] = judge.detect("the word cat", [WINDOW])
    [fuzzed] = judge.fuzz("the word cat", [(WINDOW, [2])])
    yes, no = judge.tokenizer.convert_tokens_to_ids(["yes", "no"])
    assert judge._yes == [yes] and judge._no == [no], "the uncased tokenizer has one yes and one no"
    questions = (
        (detected, DETECT_ONE.format(explanation="the word cat", excerpt=window_text(WINDOW))),
        (fuzzed, FUZZ_ONE.format(explanation="the word cat", excerpt=marked_text(WINDOW, [2]))),
    )
    for answer, question in questions:
        ids = judge._prompt_ids(question)
        p = _slot_distribution(judge, ids, len(ids))
        assert answer == pytest.approx(float(p[yes] / (p[yes] + p[no])), abs=1e-6)
    assert detected != fuzzed, "the two questions differ"


def test_it_scores_through_the_scorers(wordpiece_lm_dir):
    judge = local_lm_judge(str(wordpiece_lm_dir))
    examples = planted_example_set(
        generate_corpus(COLOUR_CAT, n_windows=40, window_len=10), n_top=3, n_random=3, n_hard=2
    )
    for scorer in ("simulation", "detection", "fuzzing"):
        result = get_scorer(scorer).score("the word cat", examples, judge=judge)
        assert math.isfinite(result.value)


def test_a_window_too_long_for_the_context_is_refused(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True)
    directory = _save_gpt2(tmp_path, tokenizer, tokenizer.vocab_size, n_positions=128)
    judge = local_lm_judge(str(directory))
    with pytest.raises(JudgeError, match="does not fit the local model's context \\(128 tokens\\)"):
        judge.simulate("the word cat", [WINDOW * 10])


def test_a_missing_or_non_causal_model_is_refused_with_a_reason(tmp_path, tiny_bert_dir):
    with pytest.raises(ScoringInputError, match="Give the local model's directory"):
        check_model_path("")
    with pytest.raises(ScoringInputError, match="is not a directory"):
        check_model_path(str(tmp_path / "nowhere"))
    with pytest.raises(ScoringInputError, match="not a causal language model"):
        local_lm_judge(str(tiny_bert_dir))


# --- Where a judge is named: commands and runs --------------------------------------------------------


def test_the_score_explanations_command_runs_the_local_judge(tmp_path, wordpiece_lm_dir):
    examples = planted_example_set(
        generate_corpus(COLOUR_CAT, n_windows=40, window_len=10), n_top=3, n_random=3, n_hard=2
    )
    records = [record.to_json() for record in [*examples.top, *examples.random]]
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"explanation": "the word cat", "records": records}) + "\n")
    options = {"scorer": "simulation", "input": str(source), "output": str(target), "judge": "local-transformers"}
    call_command("score_explanations", model_path=str(wordpiece_lm_dir), hard_negatives=0, **options)
    [line] = [json.loads(text) for text in target.read_text().splitlines()]
    assert line["details"]["judge"] == f"local-transformers:{wordpiece_lm_dir.name}"
    assert -1 <= line["score"] <= 1
    with pytest.raises(CommandError, match="Give the local model's directory"):
        call_command("score_explanations", model_path="", **options)


def test_a_scoring_run_with_the_local_judge_stores_its_score_under_its_name(computed_run, wordpiece_lm_dir):
    src = Source.objects.get(model__slug="tiny-bert", slug="0-mlp")
    feature = src.features.order_by("index").first()
    run_enqueue(run=explain_run_create(feature=feature, sync=True)[0])
    explanation = Explanation.objects.get(feature=feature)
    run, _ = score_run_create(
        explanation=explanation,
        scorers=["simulation"],
        judge="local-transformers",
        local_model_path=str(wordpiece_lm_dir),
        sync=True,
    )
    run = run_enqueue(run=run)
    assert run.status == "succeeded", run.error
    [score] = ExplanationScore.objects.filter(scorer="simulation", explanation=explanation)
    assert score.judge == f"local-transformers:{wordpiece_lm_dir.name}"


def test_a_run_naming_a_missing_or_encoder_model_is_refused_before_it_is_queued(computed_run, tiny_bert_dir):
    src = Source.objects.get(model__slug="tiny-bert", slug="0-mlp")
    with pytest.raises(PipelineRequestError, match="not a causal language model"):
        score_run_create(source=src, judge="local-transformers", local_model_path=str(tiny_bert_dir))
    with pytest.raises(PipelineRequestError, match="Give the local model's directory"):
        score_run_create(source=src, judge="local-transformers")
    assert not PipelineRun.objects.filter(kind="scoring").exists()
