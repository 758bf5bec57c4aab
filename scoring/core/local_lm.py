"""OpenAI's simulator run by a causal language model on disk (`--judge local-transformers --model-path DIR`):
no endpoint, the same prompt and the same parsing as the openai-compatible judge's logprobs mode.

Simulation is OpenAI automated-interpretability's "all at once" method: one forward pass over the prompt
followed by a reply with one placeholder line per token ("unknown"), reading at each placeholder the model's
next-token probabilities of the numbers 0-10; the activation is their expected value (llm_judge's parser).
A tokenizer that writes "10" as "1" "0" is handled exactly: the mass of "1" is split between 1 and 10 by the
probability of "0" after it, read in a second pass.

Detection and fuzzing ask one yes/no question per excerpt (delphi's questions, llm_judge's excerpts) and read
P(yes) / (P(yes) + P(no)) from the first token of the answer.
"""

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from .errors import JudgeError, ScoringInputError
from .judges import FuzzItem, Tokens
from .llm import TokenLogprob
from .llm_judge import SIMULATE_LOGPROBS, SYSTEM, _activations_from_logprobs, marked_text
from .records import window_text

NAME = "local-transformers"
PLACEHOLDER = "unknown"  # OpenAI's all-at-once simulator fills the reply's slots with it
LINE_BREAK = "\n"
VALUES = tuple(range(11))
DETECT_ONE = (
    "Explanation: {explanation}\n\nExcerpt: {excerpt}\n\nDoes the neuron fire somewhere in this excerpt, i.e. "
    "does it contain what the explanation describes, in the context described? Answer yes or no."
)
FUZZ_ONE = (
    "Explanation: {explanation}\n\nIn this excerpt some tokens are marked <<like this>>.\n\nExcerpt: {excerpt}\n\n"
    "Are the marked tokens what the neuron fires on according to the explanation? Answer yes or no."
)
YES = ("yes", "Yes", " yes", " Yes", "YES")
NO = ("no", "No", " no", " No", "NO")


def check_model_path(path: str) -> None:
    """Refuse, without loading weights, a path that is not a local causal LM checkpoint (ScoringInputError)."""
    from features.pipeline.errors import PipelineInputError
    from features.pipeline.loading import check_causal_checkpoint  # imports torch and transformers

    if not path:
        raise ScoringInputError("Give the local model's directory (--model-path, or LOCAL_EXPLAINER_MODEL_PATH).")
    try:
        check_causal_checkpoint(path)
    except PipelineInputError as error:
        raise ScoringInputError(str(error)) from error


@lru_cache(maxsize=2)
def local_lm_judge(path: str, device: str = "cpu", dtype: str = "float32") -> "LocalLMJudge":
    """The judge for a checkpoint directory, its model loaded once on `device` in `dtype` (the local explainer's
    cached loader); what it reads comes back to the CPU in float32."""
    from scoring.explainers import ExplainerError
    from scoring.explainers.local_transformers import load_causal_lm

    check_model_path(path)
    try:
        model, tokenizer = load_causal_lm(str(path), device, dtype)
    except ExplainerError as error:
        raise ScoringInputError(str(error)) from error
    return LocalLMJudge(model, tokenizer, name=f"{NAME}:{Path(path).name}")


class LocalLMJudge:
    def __init__(self, model, tokenizer, *, name: str = NAME) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.context = getattr(model.config, "max_position_embeddings", None) or getattr(
            model.config, "n_positions", 1024
        )
        self._placeholder = self._pieces(PLACEHOLDER)
        # A tokenizer that drops whitespace (WordPiece) writes no line break: the slots then simply follow each other.
        self._line_break = tokenizer.encode(LINE_BREAK, add_special_tokens=False)
        self._numbers = self._number_sequences()
        self._yes, self._no = self._answer_tokens(YES), self._answer_tokens(NO)
        if not self._yes or not self._no or set(self._yes) & set(self._no):
            raise ScoringInputError("The local model's tokenizer cannot tell a yes from a no by their first token.")

    # --- the three questions ----------------------------------------------------------------

    def simulate(self, explanation: str, windows: Sequence[Tokens]) -> list[list[float]]:
        return [self._simulate_one(explanation, tokens) for tokens in windows]

    def detect(self, explanation: str, windows: Sequence[Tokens]) -> list[float]:
        return [
            self._yes_probability(DETECT_ONE.format(explanation=explanation, excerpt=window_text(tokens)))
            for tokens in windows
        ]

    def fuzz(self, explanation: str, items: Sequence[FuzzItem]) -> list[float]:
        return [
            self._yes_probability(FUZZ_ONE.format(explanation=explanation, excerpt=marked_text(tokens, marked)))
            for tokens, marked in items
        ]

    # --- simulation ---------------------------------------------------------------------------

    def simulation_inputs(self, explanation: str, tokens: Tokens) -> tuple[list[int], list[int]]:
        """(input ids, the position of each token's placeholder): llm_judge's logprobs prompt, then a reply of
        one placeholder line per token."""
        listing = "\n".join(f"{i}\t{token.strip() or repr(token)}" for i, token in enumerate(tokens))
        prompt = SIMULATE_LOGPROBS.format(explanation=explanation, tokens=listing, n=len(tokens))
        ids = self._prompt_ids(prompt)
        slots = []
        for _ in tokens:
            slots.append(len(ids))
            ids += self._placeholder + self._line_break
        self._check_fits(len(ids) + 1)
        return ids, slots

    def number_probabilities(self, explanation: str, tokens: Tokens) -> list[dict[int, float]]:
        """For each token, the probability the model gives each number 0-10 at its slot (not renormalised)."""
        import torch

        ids, slots = self.simulation_inputs(explanation, tokens)
        with torch.inference_mode():
            # Only the positions that predict a slot: a full vocabulary row per prompt token would not fit.
            inputs = torch.tensor([ids], device=self.model.device)
            keep = torch.tensor([slot - 1 for slot in slots], device=self.model.device)
            logits = self.model(inputs, logits_to_keep=keep).logits.cpu()
        first = torch.log_softmax(logits[0].float(), dim=-1)
        second = {}  # a first token that begins a longer number ("1" of "10") -> log-probs after it, per slot
        for head in {sequence[0] for sequence in self._numbers.values() if len(sequence) == 2}:
            second[head] = self._after(ids, slots, head)
        answers = []
        for row in range(len(slots)):
            probabilities = {}
            for value, sequence in self._numbers.items():
                mass = math.exp(first[row, sequence[0]].item())
                if len(sequence) == 2:
                    mass *= math.exp(second[sequence[0]][row, sequence[1]].item())
                else:  # "1" followed by "0" is 10, not 1
                    for other in self._numbers.values():
                        if len(other) == 2 and other[0] == sequence[0]:
                            mass -= math.exp(first[row, sequence[0]].item() + second[other[0]][row, other[1]].item())
                probabilities[value] = max(mass, 0.0)
            answers.append(probabilities)
        return answers

    def _simulate_one(self, explanation: str, tokens: Tokens) -> list[float]:
        items = []
        for probabilities in self.number_probabilities(explanation, tokens):
            if sum(probabilities.values()) < 1e-30:
                raise JudgeError("the local model gives no probability to any number 0-10", kind="malformed")
            best = max(probabilities, key=probabilities.get)
            top = {str(value): math.log(p) if p > 0 else -math.inf for value, p in probabilities.items()}
            items.append(TokenLogprob(token=str(best), logprob=top[str(best)], top=top))
        return _activations_from_logprobs(items, len(tokens))

    def _after(self, ids: list[int], slots: list[int], head: int, *, batch_size: int = 16):
        """Log-probs of the next token after `head` written at each slot: batched, left-padded so that every
        row ends at the last position (the only one whose logits are computed)."""
        import torch

        answers = []
        for start in range(0, len(slots), batch_size):
            rows = [ids[:slot] + [head] for slot in slots[start : start + batch_size]]
            width = max(len(row) for row in rows)
            batch = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros_like(batch)
            for i, row in enumerate(rows):
                batch[i, width - len(row) :] = torch.tensor(row)
                mask[i, width - len(row) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            batch, mask, positions = (t.to(self.model.device) for t in (batch, mask, positions))
            with torch.inference_mode():
                logits = self.model(batch, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits
            answers.append(torch.log_softmax(logits[:, -1].float().cpu(), dim=-1))
        return torch.cat(answers)

    # --- yes or no ------------------------------------------------------------------------------

    def _yes_probability(self, prompt: str) -> float:
        import torch

        ids = self._prompt_ids(prompt)
        self._check_fits(len(ids) + 1)
        with torch.inference_mode():
            logits = self.model(torch.tensor([ids], device=self.model.device), logits_to_keep=1).logits
            probabilities = torch.softmax(logits[0, -1].float().cpu(), dim=-1)
        yes, no = probabilities[self._yes].sum().item(), probabilities[self._no].sum().item()
        if yes + no < 1e-30:
            raise JudgeError("the local model gives no probability to yes or no", kind="malformed")
        return yes / (yes + no)

    # --- tokens ---------------------------------------------------------------------------------

    def _prompt_ids(self, prompt: str) -> list[int]:
        from scoring.explainers.local_transformers import LocalTransformersExplainer

        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        return list(LocalTransformersExplainer.encode_messages(self.tokenizer, messages))

    def _check_fits(self, length: int) -> None:
        if length > self.context:
            raise JudgeError(
                f"the prompt ({length} tokens) does not fit the local model's context ({self.context} tokens): "
                "score shorter windows or use a model with a longer context",
                kind="rejected",
            )

    def _pieces(self, text: str) -> list[int]:
        """The ids `text` gets at the start of a line: what a line break followed by it adds."""
        encode = self.tokenizer.encode
        before = encode(LINE_BREAK, add_special_tokens=False)
        after = encode(LINE_BREAK + text, add_special_tokens=False)
        if after[: len(before)] != before or len(after) == len(before):
            raise ScoringInputError(f"The local model's tokenizer cannot write {text!r} on a line of its own.")
        return after[len(before) :]

    def _number_sequences(self) -> dict[int, tuple[int, ...]]:
        sequences = {value: tuple(self._pieces(str(value))) for value in VALUES}
        if any(len(sequence) > 2 for sequence in sequences.values()):
            raise ScoringInputError("The local model's tokenizer writes a number 0-10 in more than two tokens.")
        if len(set(sequences.values())) != len(sequences):
            raise ScoringInputError("The local model's tokenizer writes two numbers 0-10 alike.")
        return sequences

    def _answer_tokens(self, words: Sequence[str]) -> list[int]:
        first = []
        for word in words:
            ids = self.tokenizer.encode(word, add_special_tokens=False)
            if ids and ids[0] not in first and ids[0] != self.tokenizer.unk_token_id:
                first.append(ids[0])
        return first
