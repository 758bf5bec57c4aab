"""Explainers: machine-written explanations of a feature from its activation records, registered by name.

    token-stats         offline, no LLM: the tokens and short contexts over-represented at high activations
    openai-compatible   any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, ...), two prompts
    local-transformers  a causal LM in a local directory, run with transformers

Each returns a GeneratedExplanation: text, method (the explainer's name), model, and metadata. Plain Python, no
Django (tests/scoring/test_core_is_pure.py): their settings are read by scoring/llm_settings.py.
"""

from . import local_transformers, openai_compatible, token_stats  # noqa: F401  (registers them)
from .base import EXPLAINERS, Explainer, ExplainerError, GeneratedExplanation, get_explainer, register_explainer

__all__ = ["EXPLAINERS", "Explainer", "ExplainerError", "GeneratedExplanation", "get_explainer", "register_explainer"]
