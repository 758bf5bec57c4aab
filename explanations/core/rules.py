"""Machine-checkable rules: a short token pattern that an explanation may carry, with one target token.

No Django here; the scoring engine imports this module as it is. The stable interface:

    rule_parse(text: str) -> Rule          raises RuleError with a message a person can act on
    rule_matches(rule, tokens) -> list[bool]
        one bool per token: True where the pattern matches with its target element on that token.
        `rule` may be a Rule, the text of one, or the dict that Rule.to_json() stores
        (ExplanationRevision.rule).
    Rule.to_json() / Rule.from_json(data)  the stored form (see below)

Syntax: elements separated by spaces, each matching exactly one token, in order.

    cat              the token "cat"
    [black|white]    any one of the listed tokens
    ?                any token at all
    *cat*            marks the target: the token the feature should fire on (exactly one element)

    [black|white|grey] *cat*      fires on "cat" right after a colour word
    *def* ?                       fires on "def" followed by anything (i.e. not at the very end)

A backslash makes the next character literal (`\\*`, `\\?`, `\\|`, `\\[`, `\\]`, `\\\\`). Tokens are compared
case-insensitively after stripping surrounding whitespace, since display tokens carry their leading space
(" cat") and WordPiece continuations carry none. The stored form is

    {"source": "[black|white] *cat*", "pattern": [["black", "white"], ["cat"]], "target": 1}

where a pattern element is the list of accepted (lowercased) tokens, or null for `?`.
"""

from collections.abc import Sequence
from dataclasses import dataclass

MAX_RULE_LENGTH = 500
MAX_ELEMENTS = 16
SPECIAL = set("*?|[]\\")


class RuleError(ValueError):
    """A rule that cannot be parsed; the message says what to change."""


@dataclass(frozen=True)
class Rule:
    source: str
    pattern: tuple[frozenset[str] | None, ...]
    target: int

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "pattern": [None if words is None else sorted(words) for words in self.pattern],
            "target": self.target,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Rule":
        pattern = tuple(None if words is None else frozenset(w.lower() for w in words) for words in data["pattern"])
        target = int(data["target"])
        if not 0 <= target < len(pattern):
            raise RuleError("The stored rule's target is outside its pattern.")
        return cls(source=data.get("source", ""), pattern=pattern, target=target)


def _lex(text: str) -> list[tuple[str, str]]:
    """Split into (kind, value) pieces: kind is 'word' (literal text) or one of the special characters or ' '."""
    pieces: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                raise RuleError("A backslash at the end escapes nothing; remove it or add the character it escapes.")
            pieces.append(("word", text[i + 1]))
            i += 2
            continue
        if char.isspace():
            pieces.append((" ", " "))
        elif char in SPECIAL:
            pieces.append((char, char))
        else:
            pieces.append(("word", char))
        i += 1
    # Merge runs of literal characters into words and runs of spaces into one separator.
    merged: list[tuple[str, str]] = []
    for kind, value in pieces:
        if merged and kind == merged[-1][0] and kind in {"word", " "}:
            merged[-1] = (kind, merged[-1][1] + value if kind == "word" else " ")
        else:
            merged.append((kind, value))
    return merged


def _parse_element(pieces: list[tuple[str, str]], position: int) -> tuple[frozenset[str] | None, int]:
    """One element starting at pieces[position]: a word, `?` or `[a|b|...]`; returns it and the next position."""
    kind, value = pieces[position]
    if kind == "word":
        return frozenset({value.lower()}), position + 1
    if kind == "?":
        return None, position + 1
    if kind == "[":
        words: set[str] = set()
        position += 1
        expecting_word = True
        while position < len(pieces) and pieces[position][0] != "]":
            kind, value = pieces[position]
            if kind == " ":
                position += 1
                continue
            if kind == "word" and expecting_word:
                words.add(value.lower())
                expecting_word = False
            elif kind == "|" and not expecting_word:
                expecting_word = True
            else:
                raise RuleError("Inside [...] list tokens separated by |, e.g. [black|white|grey].")
            position += 1
        if position >= len(pieces):
            raise RuleError("A [ is never closed; end the list of alternatives with ].")
        if not words or expecting_word:
            raise RuleError("[...] needs at least one token and no empty alternative, e.g. [black|white].")
        return frozenset(words), position + 1
    raise RuleError(f"Unexpected {value!r}; an element is a token, ? or [a|b], optionally marked as *target*.")


def rule_parse(text: str) -> Rule:
    """Parse the rule syntax described in the module docstring."""
    source = " ".join(text.split())
    if not source:
        raise RuleError("The rule is empty.")
    if len(source) > MAX_RULE_LENGTH:
        raise RuleError(f"Keep the rule under {MAX_RULE_LENGTH} characters.")
    pieces = _lex(source)
    pattern: list[frozenset[str] | None] = []
    target: int | None = None
    position = 0
    while position < len(pieces):
        kind, _ = pieces[position]
        if kind == " ":
            position += 1
            continue
        marked = kind == "*"
        if marked:
            if target is not None:
                raise RuleError("Mark exactly one target token with *...*; this rule marks more than one.")
            position += 1
            if position >= len(pieces) or pieces[position][0] in {" ", "*"}:
                raise RuleError("Put the target token between the stars, e.g. *cat*.")
        element, position = _parse_element(pieces, position)
        if marked:
            if position >= len(pieces) or pieces[position][0] != "*":
                raise RuleError("The target's closing * is missing, e.g. *cat*.")
            position += 1
            target = len(pattern)
        if position < len(pieces) and pieces[position][0] == "*":
            raise RuleError(
                "Put a * on both sides of the target and spaces between elements, e.g. [black|white] *cat*."
            )
        if position < len(pieces) and pieces[position][0] != " ":
            raise RuleError("Separate the elements of a rule with spaces, e.g. [black|white] *cat*.")
        pattern.append(element)
    if target is None:
        raise RuleError("Mark the token the feature fires on with stars, e.g. [black|white] *cat*.")
    if len(pattern) > MAX_ELEMENTS:
        raise RuleError(f"A rule has at most {MAX_ELEMENTS} elements.")
    return Rule(source=source, pattern=tuple(pattern), target=target)


def _as_rule(rule: "Rule | dict | str") -> Rule:
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, dict):
        return Rule.from_json(rule)
    return rule_parse(rule)


def rule_matches(rule: "Rule | dict | str", tokens: Sequence[str]) -> list[bool]:
    """For each token, whether the rule matches with its target element on that token."""
    rule = _as_rule(rule)
    normal = [token.strip().lower() for token in tokens]
    before, after = rule.target, len(rule.pattern) - rule.target - 1
    result = []
    for position in range(len(normal)):
        start = position - before
        if start < 0 or position + after >= len(normal):
            result.append(False)
            continue
        result.append(
            all(words is None or normal[start + offset] in words for offset, words in enumerate(rule.pattern))
        )
    return result
