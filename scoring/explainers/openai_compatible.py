"""Explanations from any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server, ...)."""

from scoring.core.errors import LLMError
from scoring.core.llm import ChatClient, LLMConfig

from .base import Explainer, ExplainerError, GeneratedExplanation, active_records, register_explainer
from .prompts import PROMPTS, build_messages, clean_reply


@register_explainer("openai-compatible")
class OpenAICompatibleExplainer(Explainer):
    def __init__(
        self,
        *,
        config: LLMConfig,
        prompt: str = "token-activation-pairs",
        max_records: int = 10,
        max_tokens_per_record: int = 64,
        client: ChatClient | None = None,
    ) -> None:
        if prompt not in PROMPTS:
            raise ExplainerError(f"Unknown prompt {prompt!r}; choose one of {', '.join(PROMPTS)}.")
        self.config = config
        self.prompt = prompt
        self.max_records = max_records
        self.max_tokens_per_record = max_tokens_per_record
        self.client = client or ChatClient(config)

    def explain(self, records, *, max_activation=None) -> GeneratedExplanation:
        firing, peak = active_records(records, max_activation)
        shown = firing[: self.max_records]
        messages = build_messages(self.prompt, shown, peak, max_tokens_per_record=self.max_tokens_per_record)
        try:
            reply = self.client.chat(messages, max_tokens=120)
        except LLMError as error:
            raise ExplainerError(f"The openai-compatible explainer failed: {error}") from error
        text = clean_reply(reply.text)
        if not text:
            raise ExplainerError(f"{self.config.model} answered without an explanation: {reply.text[:200]!r}")
        return GeneratedExplanation(
            text=text,
            method=self.name,
            model=self.config.model,
            metadata={
                "prompt": self.prompt,
                "base_url": self.config.base_url,
                "records_shown": len(shown),
                "served_by": reply.model,
                "usage": reply.usage,
            },
        )
