"""Word-level differences between two revisions' texts, for the history pages. No Django here."""

import difflib
import re
from dataclasses import dataclass

# Words and the whitespace between them, so that joining the pieces gives the text back.
_PIECES = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class DiffPiece:
    op: str  # "same", "removed" or "added"
    text: str


def word_diff(old: str, new: str) -> list[DiffPiece]:
    """The pieces that turn `old` into `new`, in reading order; a replacement is a removal then an addition."""
    a, b = _PIECES.findall(old), _PIECES.findall(new)
    pieces: list[DiffPiece] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            pieces.append(DiffPiece("same", "".join(a[i1:i2])))
            continue
        if tag in {"delete", "replace"}:
            pieces.append(DiffPiece("removed", "".join(a[i1:i2])))
        if tag in {"insert", "replace"}:
            pieces.append(DiffPiece("added", "".join(b[j1:j2])))
    return pieces


def has_changes(pieces: list[DiffPiece]) -> bool:
    return any(piece.op != "same" for piece in pieces)


# An edit that changes more than this share of the words (of the longer text) is a new explanation, not a
# correction: votes cast on the text before it no longer vouch for it.
SUBSTANTIVE_CHANGE = 0.25


def changed_share(old: str, new: str) -> float:
    """The share of words that differ between two texts, from 0 (the same words) to 1 (none in common)."""
    a, b = old.split(), new.split()
    if not a and not b:
        return 0.0
    matched = sum(block.size for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks())
    return 1.0 - matched / max(len(a), len(b))


def is_substantive_change(old_text: str, new_text: str, *, old_rule: dict | None, new_rule: dict | None) -> bool:
    """Whether an edit changes what the explanation claims: more than SUBSTANTIVE_CHANGE of its words, or its
    machine-checkable rule removed or replaced (a rule added to an unchanged text claims nothing new)."""
    if old_rule and old_rule != new_rule:
        return True
    return changed_share(old_text, new_text) > SUBSTANTIVE_CHANGE
