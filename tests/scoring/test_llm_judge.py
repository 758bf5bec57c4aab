"""The LLM judge against a real local HTTP server: prompts, parsing, retries and refusals."""

import json

import pytest

from scoring.core.errors import JudgeError
from scoring.core.examples import ExampleSet
from scoring.core.llm import ChatClient, LLMConfig
from scoring.core.llm_judge import LLMJudge, marked_text
from scoring.core.records import ActivationRecord
from scoring.core.scorers import get_scorer

from .llm_server import ScriptedLLMServer, digit_logprobs

WINDOW = ["the", "black", "cat"]


@pytest.fixture
def server():
    with ScriptedLLMServer() as running:
        yield running


def judge_for(server, **options) -> LLMJudge:
    config = LLMConfig(base_url=server.base_url, model="judge-model", max_retries=0, backoff_s=0)
    return LLMJudge(ChatClient(config, sleep=lambda _: None), **options)


def prompt_of(request) -> str:
    return request["json"]["messages"][-1]["content"]


def test_simulation_by_json_returns_one_activation_per_token(server):
    server.reply('```json\n{"activations": [0, 1.5, 10]}\n```')
    assert judge_for(server).simulate("cat after a colour", [WINDOW]) == [[0.0, 1.5, 10.0]]
    prompt = prompt_of(server.requests[0])
    assert "Explanation: cat after a colour" in prompt and "2\tcat" in prompt and "exactly 3 numbers" in prompt


def test_simulation_asks_again_once_when_numbers_are_out_of_range(server):
    server.reply('{"activations": [0, 11, 10]}').reply('{"activations": [0, 1, 10]}')
    assert judge_for(server).simulate("x", [WINDOW]) == [[0.0, 1.0, 10.0]]
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("replies", "kind", "message"),
    [
        (['{"activations": [0, 11, 10]}', '{"activations": [-1, 0, 0]}'], "out_of_range", r"lie in \[0, 10\]"),
        (['{"activations": [0, 1]}'] * 2, "malformed", "expected 3 activations, got 2"),
        (["I think the neuron fires on cats."] * 2, "malformed", "not JSON"),
        (['{"activations": [0, "high", 1]}'] * 2, "malformed", "must be numbers"),
        (['{"answer": 3}'] * 2, "malformed", "no list under activations"),
    ],
)
def test_simulation_raises_instead_of_guessing_when_replies_stay_unusable(server, replies, kind, message):
    for reply in replies:
        server.reply(reply)
    with pytest.raises(JudgeError, match=message) as caught:
        judge_for(server).simulate("x", [WINDOW])
    assert caught.value.kind == kind
    assert "unusable twice" in str(caught.value)


def test_simulation_by_logprobs_takes_the_expected_value_of_each_number(server):
    text, logprobs = digit_logprobs([{0: 0.9, 10: 0.1}, {0: 1.0}, {10: 0.5, 6: 0.5}])
    server.reply(text, logprobs=logprobs)
    [predicted] = judge_for(server, simulation_mode="logprobs").simulate("x", [WINDOW])
    assert predicted == pytest.approx([1.0, 0.0, 8.0])
    assert server.requests[0]["json"]["logprobs"] is True


def test_simulation_by_logprobs_refuses_a_reply_with_the_wrong_count(server):
    for _ in range(2):
        text, logprobs = digit_logprobs([{0: 1.0}])
        server.reply(text, logprobs=logprobs)
    with pytest.raises(JudgeError, match="expected 3 activations in the logprobs, got 1"):
        judge_for(server, simulation_mode="logprobs").simulate("x", [WINDOW])


def test_detection_sends_windows_in_batches_and_reads_probabilities(server):
    server.reply('{"probabilities": [0.9, 0.2]}').reply("[0.7]")
    windows = [WINDOW, ["the", "cat"], ["a", "dog"]]
    assert judge_for(server, batch_size=2).detect("x", windows) == [0.9, 0.2, 0.7]
    assert "1. the black cat\n2. the cat" in prompt_of(server.requests[0])
    assert "1. a dog" in prompt_of(server.requests[1])


def test_detection_refuses_probabilities_outside_0_to_1(server):
    server.reply("[1.2]").reply("[2]")
    with pytest.raises(JudgeError, match=r"lie in \[0, 1\]") as caught:
        judge_for(server).detect("x", [WINDOW])
    assert caught.value.kind == "out_of_range"


def test_fuzzing_marks_the_tokens_it_asks_about(server):
    server.reply('{"probabilities": [1]}')
    assert judge_for(server).fuzz("x", [(WINDOW, [2])]) == [1.0]
    assert "1. the black <<cat>>" in prompt_of(server.requests[0])
    assert marked_text([" the", " cat"], [1]) == "the <<cat>>"


def test_an_endpoint_failure_becomes_a_judge_error_that_keeps_its_kind(server):
    server.fail(402, "no credit left")
    with pytest.raises(JudgeError, match=r"failed during detection: .*out of credit \(402\)") as caught:
        judge_for(server).detect("x", [WINDOW])
    assert caught.value.kind == "out_of_credit" and caught.value.fatal


def test_the_detection_scorer_records_auc_from_the_llm_judges_probabilities(server):
    examples = ExampleSet(
        top=[ActivationRecord(WINDOW, [0, 0, 8])],
        hard_negatives=[ActivationRecord(["the", "cat"], [0, 0]), ActivationRecord(["a", "cat"], [0, 0])],
    )
    server.reply(json.dumps({"probabilities": [0.8, 0.6, 0.3]}))
    result = get_scorer("detection").score("cat after a colour", examples, judge=judge_for(server))
    assert result.value == pytest.approx(0.75)
    assert result.details["auc"] == 1.0
    assert result.details["judge"] == "openai-compatible:judge-model:json"
