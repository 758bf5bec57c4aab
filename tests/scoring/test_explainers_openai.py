"""The openai-compatible explainer against a real local HTTP server with scripted replies."""

import pytest

from scoring.core.llm import ChatClient, LLMConfig
from scoring.core.records import ActivationRecord
from scoring.explainers import ExplainerError, get_explainer
from tests.scoring.llm_server import ScriptedLLMServer

RECORDS = [
    ActivationRecord([" the", " black", " cat", " sat"], [0.0, 0.0, 4.0, 0.0]),
    ActivationRecord([" a", " white", " cat"], [0.0, 0.0, 2.0]),
    ActivationRecord([" the", " dog"], [0.0, 0.0]),
]


@pytest.fixture
def server():
    with ScriptedLLMServer() as running:
        yield running


def explainer_for(server, **options):
    config = LLMConfig(base_url=server.base_url, model="gpt-test", api_key="k", max_retries=1, backoff_s=0)
    return get_explainer("openai-compatible", config=config, client=ChatClient(config, sleep=lambda _: None), **options)


def test_it_sends_openais_token_activation_pair_prompt_and_records_method_and_model(server):
    server.reply(" the word cat right after a colour word.\n\nMore text the model added")
    explanation = explainer_for(server).explain(RECORDS)
    assert explanation.text == "the word cat right after a colour word"
    assert (explanation.method, explanation.model) == ("openai-compatible", "gpt-test")
    assert explanation.metadata["records_shown"] == 2 and explanation.metadata["prompt"] == "token-activation-pairs"
    system, user = (message["content"] for message in server.requests[0]["json"]["messages"])
    assert "The activation format is token<tab>activation" in system
    assert "<start>\n the\t0\n black\t0\n cat\t10\n sat\t0\n<end>" in user
    assert "Same activations, but with all zeros filtered out:\n<start>\n cat\t10\n<end>" in user
    assert " cat\t5" in user, "activations are scaled 0-10 against the feature's maximum"
    assert user.endswith("Explanation of neuron 1 behavior: the main thing this neuron does is find")


def test_the_max_activating_tokens_prompt_marks_each_peak_in_context(server):
    server.reply("cats after colours")
    explainer_for(server, prompt="max-activating-tokens").explain(RECORDS, max_activation=8.0)
    user = server.requests[0]["json"]["messages"][1]["content"]
    assert "1. the black <<cat>> sat (5)" in user and "2. a white <<cat>> (2)" in user


def test_it_retries_a_transient_failure(server):
    server.fail(500, "hiccup").reply("cats")
    assert explainer_for(server).explain(RECORDS).text == "cats"


@pytest.mark.parametrize(
    ("status", "message"),
    [(402, r"out of credit \(402\)"), (401, r"rejected the API key \(401\)")],
)
def test_endpoint_failures_are_clear_errors_never_empty_explanations(server, status, message):
    server.fail(status)
    with pytest.raises(ExplainerError, match=message):
        explainer_for(server).explain(RECORDS)


def test_a_reply_without_an_explanation_is_an_error(server):
    server.reply('"."')
    with pytest.raises(ExplainerError, match="answered without an explanation"):
        explainer_for(server).explain(RECORDS)


def test_a_feature_that_never_fires_is_not_sent_to_the_llm(server):
    with pytest.raises(ExplainerError, match="nothing to explain"):
        explainer_for(server).explain([ActivationRecord(["a"], [0.0])])
    assert server.requests == []


def test_the_endpoint_comes_from_settings_unless_a_run_overrides_it(settings):
    from scoring.llm_settings import llm_config

    settings.OPENAI_BASE_URL, settings.OPENAI_MODEL, settings.OPENAI_API_KEY = "http://llm:8000/v1", "m1", "k1"
    assert (llm_config().base_url, llm_config().model, llm_config().api_key) == ("http://llm:8000/v1", "m1", "k1")
    assert llm_config(model="m2", base_url="http://other/v1").model == "m2"
