"""A small client for OpenAI-compatible chat/completions endpoints (OpenAI, vLLM, Ollama, llama.cpp, ...).

Bounded retries with exponential backoff on timeouts, 429 and 5xx; no retry where retrying cannot help
(a bad key, no credit, a rejected request). Every failure is an `LLMError` that says what went wrong and
where, so a run records "out of credit" instead of a score of zero.
"""

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from .errors import LLMError


@dataclass(frozen=True)
class LLMConfig:
    base_url: str  # up to and including the version, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1
    model: str
    api_key: str = ""
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    temperature: float = 0.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise LLMError(f"The LLM base URL {self.base_url!r} must start with http:// or https://.", kind="rejected")
        if not self.model:
            raise LLMError("Name the LLM to use (OPENAI_MODEL or --model).", kind="rejected")

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)  # alternative token -> logprob


@dataclass(frozen=True)
class ChatReply:
    text: str
    model: str
    logprobs: list[TokenLogprob] | None = None
    usage: dict = field(default_factory=dict)


class ChatClient:
    def __init__(
        self,
        config: LLMConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.session = session or requests.Session()
        self.sleep = sleep

    def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 512,
        logprobs: bool = False,
        top_logprobs: int | None = None,
        json_mode: bool = False,
    ) -> ChatReply:
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": self.config.temperature,
        }
        if logprobs:
            payload["logprobs"] = True
            payload["top_logprobs"] = top_logprobs or 5
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        return self._parse(self._post(payload), want_logprobs=logprobs)

    def _post(self, payload: dict) -> dict:
        config = self.config
        headers = {"Content-Type": "application/json"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        where = f"the LLM endpoint {config.url}"
        error: LLMError | None = None
        for attempt in range(config.max_retries + 1):
            if attempt:
                self.sleep(self._backoff(attempt, error))
            try:
                response = self.session.post(
                    config.url, json=payload, headers=headers, timeout=(min(config.timeout_s, 10.0), config.timeout_s)
                )
            except requests.Timeout:
                error = LLMError(f"{where} did not answer within {config.timeout_s:g} s.", kind="timeout")
                continue
            except requests.ConnectionError as exc:
                error = LLMError(f"Cannot reach {where}: is the server running? ({_short(exc)})", kind="unreachable")
                continue
            except requests.RequestException as exc:
                raise LLMError(f"Request to {where} failed: {_short(exc)}", kind="unreachable") from exc

            status, message = response.status_code, _error_message(response)
            if status == 200:
                try:
                    return response.json()
                except ValueError:
                    raise LLMError(
                        f"{where} answered 200 with a body that is not JSON: {response.text[:200]!r}", kind="malformed"
                    ) from None
            if status in (401, 403):
                raise LLMError(f"{where} rejected the API key ({status}): {message}", kind="auth")
            if status == 402 or (status == 429 and _is_quota_error(response)):
                raise LLMError(f"{where} says the account is out of credit ({status}): {message}", kind="out_of_credit")
            if status == 429:
                error = LLMError(
                    f"{where} is rate limiting us (429): {message}",
                    kind="rate_limited",
                    retry_after=_retry_after(response),
                )
                continue
            if status >= 500:
                error = LLMError(f"{where} failed with a server error ({status}): {message}", kind="server")
                continue
            raise LLMError(f"{where} rejected the request ({status}): {message}", kind="rejected")
        assert error is not None
        raise LLMError(f"{error} Gave up after {config.max_retries + 1} attempts.", kind=error.kind)

    def _backoff(self, attempt: int, error: LLMError | None) -> float:
        delay = self.config.backoff_s * 2 ** (attempt - 1)
        if error is not None and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return min(delay, self.config.max_backoff_s)

    def _parse(self, body: Any, *, want_logprobs: bool) -> ChatReply:
        where = f"the LLM endpoint {self.config.url}"
        try:
            choice = body["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMError(
                f"{where} answered without choices[0].message.content: {str(body)[:200]}", kind="malformed"
            ) from None
        if not isinstance(content, str) or not content.strip():
            reason = choice.get("finish_reason") if isinstance(choice, dict) else None
            raise LLMError(f"{where} answered with an empty message (finish_reason={reason}).", kind="malformed")
        logprobs = None
        if want_logprobs:
            try:
                logprobs = [
                    TokenLogprob(
                        token=item["token"],
                        logprob=float(item["logprob"]),
                        top={alt["token"]: float(alt["logprob"]) for alt in item.get("top_logprobs") or []},
                    )
                    for item in choice["logprobs"]["content"]
                ]
            except (KeyError, TypeError, ValueError):
                raise LLMError(
                    f"{where} did not return token logprobs; use a server that supports them or the JSON mode.",
                    kind="malformed",
                ) from None
        return ChatReply(
            text=content,
            model=str(body.get("model") or self.config.model),
            logprobs=logprobs,
            usage=body.get("usage") or {},
        )


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason or ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error or body)[:300]


def _is_quota_error(response: requests.Response) -> bool:
    # OpenAI answers 429 both for "slow down" and for "no credit left"; only the code tells them apart.
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and "insufficient_quota" in (str(error.get("code")), str(error.get("type")))


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def extract_json(text: str) -> Any:
    """The first JSON object or array in a model's reply, tolerating code fences and prose around it."""
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(text, start)
                return value
            except ValueError:
                continue
    raise ValueError("no JSON object or array in the reply")
