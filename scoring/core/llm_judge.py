"""A judge that asks an OpenAI-compatible LLM. Simulation follows OpenAI automated-interpretability
(predict 0-10 per token from the explanation), as JSON or read from the logprobs of the digits it writes;
detection and fuzzing follow delphi (is this window / are these marked tokens what the explanation says?),
answered with probabilities so the scorers can report AUC as well as balanced accuracy.

Replies are validated: wrong lengths, numbers out of range and unparseable text are asked again once and
then raised as `JudgeError`; they never turn into zeros.
"""

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from .errors import JudgeError, LLMError
from .judges import FuzzItem, Tokens
from .llm import ChatClient, ChatReply, extract_json
from .records import window_text

SYSTEM = (
    "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short "
    "document. You are given an explanation of what one neuron looks for. Take it literally, including any "
    "context it requires: a neuron explained as firing on a word only in some context does not fire on that "
    "word elsewhere."
)
SIMULATE_JSON = (
    "Explanation: {explanation}\n\nPredict the neuron's activation on each token below as an integer from 0 "
    "(not at all) to 10 (as strongly as it ever fires). Most tokens are 0.\n\nTokens (index<tab>token):\n"
    '{tokens}\n\nReply with JSON only, exactly {n} numbers: {{"activations": [...]}}'
)
SIMULATE_LOGPROBS = (
    "Explanation: {explanation}\n\nPredict the neuron's activation on each token below as an integer from 0 "
    "(not at all) to 10 (as strongly as it ever fires). Most tokens are 0.\n\nTokens (index<tab>token):\n"
    "{tokens}\n\nReply with exactly {n} lines, one per token in order, each holding only the integer."
)
DETECT = (
    "Explanation: {explanation}\n\nFor each numbered excerpt, give the probability (0 to 1) that the neuron "
    "fires somewhere in it, i.e. that it contains what the explanation describes, in the context described."
    '\n\n{excerpts}\n\nReply with JSON only, exactly {n} numbers in order: {{"probabilities": [...]}}'
)
FUZZ = (
    "Explanation: {explanation}\n\nIn each numbered excerpt some tokens are marked <<like this>>. For each "
    "excerpt, give the probability (0 to 1) that the marked tokens are what the neuron fires on according to "
    "the explanation.\n\n{excerpts}\n\nReply with JSON only, exactly {n} numbers in order: "
    '{{"probabilities": [...]}}'
)


class LLMJudge:
    def __init__(
        self, client: ChatClient, *, simulation_mode: str = "json", batch_size: int = 10, parse_retries: int = 1
    ) -> None:
        if simulation_mode not in ("json", "logprobs"):
            raise ValueError("simulation_mode is 'json' or 'logprobs'")
        self.client = client
        self.simulation_mode = simulation_mode
        self.batch_size = batch_size
        self.parse_retries = parse_retries
        self.name = f"openai-compatible:{client.config.model}:{simulation_mode}"

    # --- the three questions ----------------------------------------------------------------

    def simulate(self, explanation: str, windows: Sequence[Tokens]) -> list[list[float]]:
        return [self._simulate_one(explanation, tokens) for tokens in windows]

    def detect(self, explanation: str, windows: Sequence[Tokens]) -> list[float]:
        excerpts = [window_text(tokens) for tokens in windows]
        return self._probabilities(DETECT, explanation, excerpts, "detection")

    def fuzz(self, explanation: str, items: Sequence[FuzzItem]) -> list[float]:
        excerpts = [marked_text(tokens, marked) for tokens, marked in items]
        return self._probabilities(FUZZ, explanation, excerpts, "fuzzing")

    # --- helpers ------------------------------------------------------------------------------

    def _simulate_one(self, explanation: str, tokens: Tokens) -> list[float]:
        listing = "\n".join(f"{i}\t{token.strip() or repr(token)}" for i, token in enumerate(tokens))
        n = len(tokens)
        if self.simulation_mode == "json":
            prompt = SIMULATE_JSON.format(explanation=explanation, tokens=listing, n=n)
            return self._ask(
                prompt, lambda reply: _activations_from_json(reply.text, n), "simulation", max_tokens=8 * n + 50
            )
        prompt = SIMULATE_LOGPROBS.format(explanation=explanation, tokens=listing, n=n)
        return self._ask(
            prompt,
            lambda reply: _activations_from_logprobs(reply.logprobs or [], n),
            "simulation",
            max_tokens=4 * n + 20,
            logprobs=True,
        )

    def _probabilities(self, template: str, explanation: str, excerpts: list[str], task: str) -> list[float]:
        answers: list[float] = []
        for start in range(0, len(excerpts), self.batch_size):
            batch = excerpts[start : start + self.batch_size]
            listing = "\n".join(f"{i + 1}. {text}" for i, text in enumerate(batch))
            prompt = template.format(explanation=explanation, excerpts=listing, n=len(batch))
            n = len(batch)
            answers += self._ask(prompt, partial(_probabilities_from_reply, n=n), task, max_tokens=12 * n + 50)
        return answers

    def _ask(self, prompt: str, parse: Callable[[Any], list[float]], task: str, **options) -> list[float]:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        problem: JudgeError | None = None
        for _ in range(self.parse_retries + 1):
            try:
                reply = self.client.chat(messages, **options)
            except LLMError as error:
                raise JudgeError(f"The LLM judge failed during {task}: {error}", kind=error.kind) from error
            try:
                return parse(reply)
            except JudgeError as error:
                problem = error
        assert problem is not None
        raise JudgeError(f"The LLM judge's {task} answer was unusable twice: {problem}", kind=problem.kind)


def marked_text(tokens: Tokens, marked: Sequence[int]) -> str:
    chosen = set(marked)
    shown = []
    for i, token in enumerate(tokens):
        if i in chosen:
            stripped = token.lstrip()
            token = token[: len(token) - len(stripped)] + f"<<{stripped}>>"
        shown.append(token)
    return window_text(shown)


def _json_list(text: str, keys: tuple[str, ...]) -> list:
    try:
        value = extract_json(text)
    except ValueError:
        raise JudgeError(f"the reply is not JSON: {text[:120]!r}", kind="malformed") from None
    if isinstance(value, dict):
        for key in keys:
            if isinstance(value.get(key), list):
                return value[key]
        raise JudgeError(f"the reply has no list under {' or '.join(keys)}: {text[:120]!r}", kind="malformed")
    if isinstance(value, list):
        return value
    raise JudgeError(f"the reply is not a list: {text[:120]!r}", kind="malformed")


def _numbers(values: list, n: int, low: float, high: float, what: str) -> list[float]:
    if len(values) != n:
        raise JudgeError(f"expected {n} {what}, got {len(values)}", kind="malformed")
    numbers = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise JudgeError(f"{what} must be numbers, got {value!r}", kind="malformed")
        if not low <= value <= high:
            raise JudgeError(f"{what} must lie in [{low:g}, {high:g}], got {value!r}", kind="out_of_range")
        numbers.append(float(value))
    return numbers


def _activations_from_json(text: str, n: int) -> list[float]:
    return _numbers(_json_list(text, ("activations", "predictions")), n, 0, 10, "activations")


def _probabilities_from_reply(reply: ChatReply, n: int) -> list[float]:
    return _numbers(_json_list(reply.text, ("probabilities", "answers", "predictions")), n, 0, 1, "probabilities")


def _activations_from_logprobs(logprobs: list, n: int) -> list[float]:
    """The expected value of each number the model wrote, over the digits 0-10 among its top alternatives
    (OpenAI's simulator reads the same distribution)."""
    predictions = []
    for item in logprobs:
        if _as_activation(item.token) is None:
            continue  # newlines, tabs and other separators
        weights = {}
        for token, logprob in {**item.top, item.token: item.logprob}.items():
            value = _as_activation(token)
            if value is not None:
                weights[value] = weights.get(value, 0.0) + math.exp(logprob)
        total = sum(weights.values())
        predictions.append(sum(value * weight for value, weight in weights.items()) / total)
    if len(predictions) != n:
        raise JudgeError(f"expected {n} activations in the logprobs, got {len(predictions)}", kind="malformed")
    return predictions


def _as_activation(token: str) -> int | None:
    token = token.strip()
    if token.isdigit() and 0 <= int(token) <= 10:
        return int(token)
    return None
