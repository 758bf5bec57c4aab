"""Explanations from a causal language model in a local directory, run with transformers on a chosen device
in a chosen dtype (features/pipeline/devices.py; the CPU in float32 unless told otherwise).

It loads through the activation pipeline's loader (features.pipeline.loading.load_checkpoint), asking only
for a causal LM: any that can generate will do here, including architectures the pipeline cannot hook.
"""

from functools import lru_cache
from pathlib import Path

from .base import Explainer, ExplainerError, GeneratedExplanation, active_records, register_explainer
from .prompts import PROMPTS, build_messages, clean_reply


def load_causal_lm(path: str, device: str = "cpu", dtype: str = "float32"):
    """(model, tokenizer) for a local checkpoint directory, through the pipeline's one loader; nothing is
    downloaded. Any causal LM that can generate will do, including architectures the pipeline cannot hook."""
    from features.pipeline.devices import resolve
    from features.pipeline.errors import PipelineInputError

    try:
        return _load_causal_lm(path, *resolve(device, dtype))  # resolved first: "auto" shares its cache entry
    except PipelineInputError as error:
        raise ExplainerError(str(error)) from error


@lru_cache(maxsize=2)
def _load_causal_lm(path: str, device: str, dtype: str):
    from features.pipeline.errors import PipelineInputError
    from features.pipeline.loading import load_checkpoint  # imports torch, so only when a model is needed

    try:
        model, tokenizer, _config = load_checkpoint(path, causal_only=True, device=device, dtype=dtype)
    except PipelineInputError as error:
        raise ExplainerError(str(error)) from error
    return model, tokenizer


@register_explainer("local-transformers")
class LocalTransformersExplainer(Explainer):
    def __init__(
        self,
        *,
        model_path: str,
        prompt: str = "max-activating-tokens",
        max_records: int = 10,
        max_tokens_per_record: int = 32,
        max_new_tokens: int = 40,
        temperature: float = 0.0,
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
    ) -> None:
        if not model_path:
            raise ExplainerError("Give the local model's directory (LOCAL_EXPLAINER_MODEL_PATH or --model-path).")
        if prompt not in PROMPTS:
            raise ExplainerError(f"Unknown prompt {prompt!r}; choose one of {', '.join(PROMPTS)}.")
        self.model_path = str(model_path)
        self.prompt = prompt
        self.max_records = max_records
        self.max_tokens_per_record = max_tokens_per_record
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        self.device = device
        self.dtype = dtype

    def explain(self, records, *, max_activation=None) -> GeneratedExplanation:
        import torch

        firing, peak = active_records(records, max_activation)
        model, tokenizer = load_causal_lm(self.model_path, self.device, self.dtype)
        context = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", 1024)
        budget = context - self.max_new_tokens
        if budget < 16:
            raise ExplainerError(f"The model's context ({context} tokens) leaves no room for a prompt.")

        # Fewer records until the prompt fits; the model's context is the limit, not our taste.
        shown = firing[: self.max_records]
        while True:
            input_ids = self.encode_messages(
                tokenizer, build_messages(self.prompt, shown, peak, max_tokens_per_record=self.max_tokens_per_record)
            )
            if len(input_ids) <= budget or len(shown) == 1:
                break
            shown = shown[:-1]
        input_ids = input_ids[-budget:]

        torch.manual_seed(self.seed)
        special = sorted(set(tokenizer.all_special_ids))
        options = {
            "do_sample": self.temperature > 0,
            "max_new_tokens": self.max_new_tokens,
            "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        }
        if self.temperature > 0:
            options["temperature"] = self.temperature
        if special:
            options["suppress_tokens"] = special
        with torch.inference_mode():
            ids = torch.tensor([input_ids], device=model.device)
            output = model.generate(ids, attention_mask=torch.ones_like(ids), **options)
        reply = tokenizer.decode(output[0, len(input_ids) :], skip_special_tokens=True)
        text = clean_reply(reply)
        if not text:
            raise ExplainerError(f"The local model at {self.model_path!r} produced no text.")
        return GeneratedExplanation(
            text=text,
            method=self.name,
            model=Path(self.model_path).name,
            metadata={
                "prompt": self.prompt,
                "model_path": self.model_path,
                "records_shown": len(shown),
                "seed": self.seed,
                "temperature": self.temperature,
                "prompt_tokens": len(input_ids),
            },
        )

    @staticmethod
    def encode_messages(tokenizer, messages: list[dict[str, str]]) -> list[int]:
        """The prompt's ids, through the model's chat template when it has one (the local judge's too)."""
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = "\n\n".join(message["content"] for message in messages)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
