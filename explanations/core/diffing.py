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
