"""Prompts for LLM explainers. `token-activation-pairs` is OpenAI automated-interpretability's explainer
prompt (token<tab>activation, 0-10, then the non-zero ones again); `max-activating-tokens` shows each top
example's strongest token marked in its context. Both ask for the context a token needs, since an
explanation that names only the token scores badly against hard negatives."""

from collections.abc import Sequence

from scoring.core.records import ActivationRecord, normalise_activations, window_text

SYSTEM_TOKEN_PAIRS = (
    "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short "
    "document. Look at the parts of the document the neuron activates for and summarize in a single sentence "
    "what the neuron is looking for. Don't list examples of words. If the neuron fires on a token only in a "
    "certain context, say what the context is.\n\nThe activation format is token<tab>activation. Activation "
    "values range from 0 to 10. A neuron finding what it's looking for is represented by a non-zero "
    "activation value. The higher the activation value, the stronger the match."
)
SYSTEM_MAX_TOKENS = (
    "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short "
    "document. Below are the examples where one neuron fires most; in each, the token it fires on most is "
    "marked <<like this>>, followed by its activation from 0 to 10. Summarize in a single sentence what the "
    "neuron is looking for, including the context it needs when the same token elsewhere would not make it "
    "fire."
)
ANSWER_PREFIX = "the main thing this neuron does is find"
PROMPTS = ("token-activation-pairs", "max-activating-tokens")


def crop(record: ActivationRecord, max_tokens: int) -> ActivationRecord:
    """At most `max_tokens` tokens, keeping the strongest token with the context before it."""
    if len(record.tokens) <= max_tokens:
        return record
    start = max(0, min(record.argmax - (3 * max_tokens) // 4, len(record.tokens) - max_tokens))
    end = start + max_tokens
    return ActivationRecord(record.tokens[start:end], record.activations[start:end])


def token_activation_pairs(record: ActivationRecord, peak: float, *, omit_zeros: bool = False) -> str:
    lines = ["<start>"]
    for token, value in zip(record.tokens, normalise_activations(record.activations, peak), strict=True):
        if omit_zeros and value == 0:
            continue
        lines.append(f"{token}\t{value}")
    lines.append("<end>")
    return "\n".join(lines)


def build_messages(
    prompt: str, records: Sequence[ActivationRecord], peak: float, *, max_tokens_per_record: int = 64
) -> list[dict[str, str]]:
    shown = [crop(record, max_tokens_per_record) for record in records]
    if prompt == "token-activation-pairs":
        everything = "\n".join(token_activation_pairs(record, peak) for record in shown)
        non_zero = "\n".join(token_activation_pairs(record, peak, omit_zeros=True) for record in shown)
        user = (
            f"Neuron 1\nActivations:\n{everything}\n\nSame activations, but with all zeros filtered out:\n"
            f"{non_zero}\n\nExplanation of neuron 1 behavior: {ANSWER_PREFIX}"
        )
        return [{"role": "system", "content": SYSTEM_TOKEN_PAIRS}, {"role": "user", "content": user}]
    if prompt == "max-activating-tokens":
        lines = []
        for number, record in enumerate(shown, start=1):
            peak_at = record.argmax
            tokens = list(record.tokens)
            stripped = tokens[peak_at].lstrip()
            tokens[peak_at] = tokens[peak_at][: len(tokens[peak_at]) - len(stripped)] + f"<<{stripped}>>"
            value = normalise_activations([record.activations[peak_at]], peak)[0]
            lines.append(f"{number}. {window_text(tokens)} ({value})")
        user = "Neuron 1\nTop examples:\n" + "\n".join(lines) + f"\n\nExplanation of neuron 1 behavior: {ANSWER_PREFIX}"
        return [{"role": "system", "content": SYSTEM_MAX_TOKENS}, {"role": "user", "content": user}]
    raise ValueError(f"Unknown prompt {prompt!r}; choose one of {', '.join(PROMPTS)}.")


def clean_reply(text: str, *, max_length: int = 500) -> str:
    """The explanation in a reply: its first non-empty line, without the prompt's lead-in, quotes or final
    full stop."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    lowered = line.lower()
    for lead in (ANSWER_PREFIX, "explanation:", "explanation of neuron 1 behavior:"):
        if lowered.startswith(lead):
            line = line[len(lead) :].strip()
            lowered = line.lower()
    line = line.strip(" \"'`*")
    if line.endswith(".") and not line.endswith(".."):
        line = line[:-1]
    return " ".join(line.split())[:max_length]
