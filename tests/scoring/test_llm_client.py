"""The OpenAI-compatible client against a real local HTTP server with scripted replies and failures."""

import socket

import pytest

from scoring.core.errors import LLMError
from scoring.core.llm import ChatClient, LLMConfig, extract_json

from .llm_server import ScriptedLLMServer, digit_logprobs

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def server():
    with ScriptedLLMServer() as running:
        yield running


def client_for(server, *, sleeps=None, **overrides) -> ChatClient:
    options = {"timeout_s": 2.0, "max_retries": 2, "backoff_s": 0.01, "api_key": "sk-test", **overrides}
    config = LLMConfig(base_url=server.base_url, model="test-model", **options)
    return ChatClient(config, sleep=(sleeps.append if sleeps is not None else lambda _: None))


def test_it_posts_a_chat_completion_and_returns_the_reply(server):
    server.reply("a cat after a colour word")
    reply = client_for(server).chat(MESSAGES, max_tokens=30)
    assert reply.text == "a cat after a colour word"
    assert reply.model == "scripted-model" and reply.usage["total_tokens"] == 15
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["json"]["model"] == "test-model"
    assert request["json"]["messages"] == MESSAGES and request["json"]["max_tokens"] == 30


def test_it_returns_token_logprobs_when_asked(server):
    text, logprobs = digit_logprobs([{0: 0.75, 10: 0.25}])
    server.reply(text, logprobs=logprobs)
    reply = client_for(server).chat(MESSAGES, logprobs=True, top_logprobs=3)
    assert reply.logprobs[0].token == "0" and reply.logprobs[0].top["10"] == pytest.approx(-1.386, abs=1e-3)
    assert server.requests[0]["json"]["logprobs"] is True and server.requests[0]["json"]["top_logprobs"] == 3


def test_it_retries_a_rate_limit_with_backoff_honouring_retry_after(server):
    server.fail(429, "slow down", headers={"Retry-After": "0.5"}).reply("ok")
    sleeps = []
    assert client_for(server, sleeps=sleeps).chat(MESSAGES).text == "ok"
    assert len(server.requests) == 2
    assert sleeps == [0.5]


def test_it_gives_up_on_a_rate_limit_after_its_retries_and_says_so(server):
    for _ in range(3):
        server.fail(429, "slow down")
    with pytest.raises(LLMError, match=r"rate limiting us \(429\): slow down Gave up after 3 attempts") as caught:
        client_for(server).chat(MESSAGES)
    assert caught.value.kind == "rate_limited" and not caught.value.fatal
    assert len(server.requests) == 3


def test_it_retries_server_errors(server):
    server.fail(503, "overloaded").fail(500, "oops").reply("ok")
    assert client_for(server).chat(MESSAGES).text == "ok"
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "code", "kind", "message"),
    [
        (401, None, "auth", r"rejected the API key \(401\)"),
        (403, None, "auth", r"rejected the API key \(403\)"),
        (402, None, "out_of_credit", r"out of credit \(402\)"),
        (429, "insufficient_quota", "out_of_credit", r"out of credit \(429\)"),
        (400, None, "rejected", r"rejected the request \(400\): scripted failure"),
        (404, "model_not_found", "rejected", r"rejected the request \(404\)"),
    ],
)
def test_it_does_not_retry_what_retrying_cannot_fix(server, status, code, kind, message):
    server.fail(status, code=code)
    with pytest.raises(LLMError, match=message) as caught:
        client_for(server).chat(MESSAGES)
    assert caught.value.kind == kind
    assert caught.value.fatal == (kind in {"auth", "out_of_credit"})
    assert len(server.requests) == 1


def test_it_times_out_and_retries_then_fails_clearly(server):
    server.stall(1.0).stall(1.0)
    with pytest.raises(LLMError, match=r"did not answer within 0.2 s\. Gave up after 2 attempts") as caught:
        client_for(server, timeout_s=0.2, max_retries=1).chat(MESSAGES)
    assert caught.value.kind == "timeout"


def test_it_says_when_the_endpoint_is_down():
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, backoff_s=0)
    with pytest.raises(LLMError, match="Cannot reach the LLM endpoint .* is the server running") as caught:
        ChatClient(config, sleep=lambda _: None).chat(MESSAGES)
    assert caught.value.kind == "unreachable" and caught.value.fatal


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>bad gateway</html>", "not JSON"),
        ('{"choices": []}', r"without choices\[0\].message.content"),
        ('{"choices": [{"message": {"content": ""}, "finish_reason": "length"}]}', "empty message"),
        ('{"choices": [{"message": {"content": null}}]}', "empty message"),
    ],
)
def test_it_refuses_malformed_replies(server, body, message):
    server.raw(200, body)
    with pytest.raises(LLMError, match=message) as caught:
        client_for(server).chat(MESSAGES)
    assert caught.value.kind == "malformed"


def test_it_says_when_the_server_returns_no_logprobs(server):
    server.reply("5")
    with pytest.raises(LLMError, match="did not return token logprobs"):
        client_for(server).chat(MESSAGES, logprobs=True)


def test_the_configuration_is_checked_before_any_request():
    with pytest.raises(LLMError, match="must start with http"):
        LLMConfig(base_url="api.openai.com", model="m")
    with pytest.raises(LLMError, match="Name the LLM"):
        LLMConfig(base_url="http://127.0.0.1:1/v1", model="")


def test_json_is_found_inside_code_fences_and_prose():
    assert extract_json('Sure! ```json\n{"activations": [1, 2]}\n```') == {"activations": [1, 2]}
    assert extract_json("answer: [0.5, 1] done") == [0.5, 1]
    with pytest.raises(ValueError):
        extract_json("no json here {oops")
