"""Errors of the scoring core. Their messages are shown to users as they are."""


class ScoringInputError(ValueError):
    """Bad input to a scorer: malformed records, a missing judge or rule, examples of one class only."""


class LLMError(RuntimeError):
    """An OpenAI-compatible endpoint failed: down, rejected the key, out of credit, rate limited,
    timed out, or replied with something we cannot use. Never turned into a silent zero.

    `kind` is one of: unreachable, timeout, auth, out_of_credit, rate_limited, server, rejected, malformed,
    out_of_range. `fatal` errors will not go away by trying the next item (a bad key, no credit, no server).
    """

    FATAL_KINDS = frozenset({"unreachable", "auth", "out_of_credit"})

    def __init__(self, message: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), if it did

    @property
    def fatal(self) -> bool:
        return self.kind in self.FATAL_KINDS


class JudgeError(LLMError):
    """An LLM judge or simulator could not give a usable answer."""
