"""Explanations and their revisions: create, revise, revert, hide; a revision's rule, search terms and embedding."""

import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from features.models import Feature
from features.services.page_versions import feature_page_changed

from ..core import embeddings
from ..core.diffing import is_substantive_change
from ..core.rules import RuleError, rule_parse
from ..models import (
    Explanation,
    ExplanationRevision,
    RevisionEmbedding,
    SearchTerm,
    Vote,
)
from ..search import text_terms
from ..signals import revision_added
from .lists import watch_add
from .permissions import ensure_can_replace_text, ensure_can_write, ensure_explanations_open, ensure_staff

logger = logging.getLogger(__name__)


MAX_EXPLANATION_LENGTH = 1000


ENCODER_NAME = "all-MiniLM-L6-v2"


def explanation_text_clean(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise ValidationError({"text": "Write the explanation: what makes this feature fire?"})
    if len(text) > MAX_EXPLANATION_LENGTH:
        raise ValidationError({"text": f"Keep an explanation under {MAX_EXPLANATION_LENGTH} characters."})
    return text


def rule_from_text(rule_text: str) -> dict | None:
    """The stored form of an optional rule; ValidationError on the `rule` field if it does not parse."""
    if not rule_text or not rule_text.strip():
        return None
    try:
        return rule_parse(rule_text).to_json()
    except RuleError as error:
        raise ValidationError({"rule": str(error)}) from error


def search_terms_add(*, texts: list[str]) -> None:
    """Add the words of newly saved texts to the dictionary that search corrects typos against."""
    terms = set().union(*(text_terms(text) for text in texts)) if texts else set()
    if terms:
        SearchTerm.objects.bulk_create([SearchTerm(term=term) for term in terms], ignore_conflicts=True)


def revisions_embed(*, revisions: list[ExplanationRevision]) -> int:
    """Store each revision's MiniLM embedding for semantic search; returns how many were stored.

    Runs after the revision is committed, and a failure only costs the revision its place in semantic
    search (logged), never the edit itself. `manage.py embed_explanations` fills in any that are missing.
    """
    if not revisions:
        return 0
    try:
        vectors = embeddings.embed_texts([revision.text for revision in revisions])
    except Exception:  # noqa: BLE001 - a missing or broken encoder must not lose anyone's edit
        logger.exception("Could not embed %d explanation revisions", len(revisions))
        return 0
    rows = [
        RevisionEmbedding(revision_id=revision.pk, vector=embeddings.to_bytes(vector), encoder=ENCODER_NAME)
        for revision, vector in zip(revisions, vectors, strict=True)
    ]
    RevisionEmbedding.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["revision"], update_fields=["vector", "encoder"]
    )
    return len(rows)


def explanation_create(
    *,
    feature: Feature,
    text: str,
    author=None,
    method: str = "",
    explainer_model: str = "",
    rule_text: str = "",
    message: str = "",
    embed: bool = True,
    generated: bool = False,
) -> Explanation:
    """A new explanation with its first revision. Written by a person (`author`) or by a machine
    (`method`, and the `explainer_model` it used), never neither. `generated` marks one written by our
    explainer pipelines (scoring/services.py): at most one per feature, method and model (a constraint)."""
    text = explanation_text_clean(text)
    rule = rule_from_text(rule_text)
    if author is None and not method:
        raise ValidationError("An explanation needs an author or the method that wrote it.")
    if author is not None:
        ensure_can_write(author)
        ensure_explanations_open(feature, author)
    with transaction.atomic():
        explanation = Explanation.objects.create(
            feature=feature, author=author, method=method, explainer_model=explainer_model, generated=generated
        )
        revision = ExplanationRevision.objects.create(
            explanation=explanation, text=text, rule=rule, author=author, message=message[:300] or "Created"
        )
        ExplanationRevision.objects.filter(pk=revision.pk).update(votes_from=revision)
        revision.votes_from_id = revision.pk
        explanation.current_revision = revision
        explanation.save(update_fields=["current_revision", "updated_at"])
        if author is not None:
            watch_add(author, feature)
        search_terms_add(texts=[text])
    if embed:
        revisions_embed(revisions=[revision])
    return explanation


def _append_revision(
    *,
    explanation: Explanation,
    author,
    text: str,
    rule: dict | None,
    message: str,
    base_revision_id: int | None,
    reverting_to: ExplanationRevision | None = None,
) -> ExplanationRevision:
    """The one way a revision is added: under a lock on the explanation row, so that two people saving at
    once produce two revisions in a line, and the second learns that it was editing an older text.

    Votes follow the text they were cast on (ExplanationRevision.votes_from): a substantive edit by someone
    other than the previous text's author starts the count again, and the explanation's vote_score counts the
    votes from there on; a revert takes the count of the text it restores."""
    ensure_can_write(author)
    ensure_explanations_open(explanation.feature, author)
    with transaction.atomic():
        locked = (
            Explanation.objects.select_for_update(of=("self",))
            .select_related("current_revision")
            .only("pk", "hidden", "author_id", "current_revision")
            .get(pk=explanation.pk)
        )
        if locked.hidden and not author.is_staff:
            raise PermissionDenied("A moderator has hidden this explanation; it cannot be edited.")
        ensure_can_replace_text(author, locked)
        current = locked.current_revision
        if base_revision_id is not None and current is not None and current.pk != base_revision_id:
            raise ValidationError(
                "Someone else saved a new version while you were editing. Compare it with yours and save again.",
                code="edit_conflict",
            )
        if current is not None and current.text == text and current.rule == rule:
            raise ValidationError("That is the current version already; change something to save a revision.")
        revision = ExplanationRevision.objects.create(
            explanation_id=locked.pk, text=text, rule=rule, author=author, message=message[:300], previous=current
        )
        revision.votes_from_id = _votes_from(
            current=current, new=revision, by_owner=author.pk == locked.author_id, reverting_to=reverting_to
        )
        ExplanationRevision.objects.filter(pk=revision.pk).update(votes_from_id=revision.votes_from_id)
        Explanation.objects.filter(pk=locked.pk).update(
            current_revision=revision,
            vote_score=counted_votes(votes_from_id=revision.votes_from_id, explanation_id=locked.pk),
            updated_at=timezone.now(),
        )
        feature_page_changed([explanation.feature_id])
        watch_add(author, explanation.feature)
        search_terms_add(texts=[text])
        explanation.current_revision = revision
        revision_added.send(
            sender=ExplanationRevision, explanation=explanation, revision=revision, reverted_to=reverting_to
        )
    return revision


def _votes_from(
    *,
    current: ExplanationRevision | None,
    new: ExplanationRevision,
    by_owner: bool,
    reverting_to: ExplanationRevision | None,
) -> int | None:
    """The revision from which votes count for the new text (see ExplanationRevision.votes_from): the text it
    restores, for a revert; itself, for a substantive edit by anyone but the explanation's own author (of a
    machine-written explanation, by anyone); else, as for the text before it."""
    if reverting_to is not None:
        return reverting_to.votes_from_id
    if current is None:
        return new.pk
    substantive = is_substantive_change(current.text, new.text, old_rule=current.rule, new_rule=new.rule)
    return new.pk if substantive and not by_owner else current.votes_from_id


def counted_votes(*, explanation_id: int, votes_from_id: int | None) -> int:
    """The vote total of an explanation whose current text's votes count from `votes_from_id` (all, if None)."""
    votes = Vote.objects.filter(explanation_id=explanation_id)
    if votes_from_id is not None:
        votes = votes.filter(revision_id__gte=votes_from_id)
    return votes.aggregate(total=Coalesce(Sum("value"), 0))["total"]


def explanation_revise(
    *,
    explanation: Explanation,
    author,
    text: str,
    rule_text: str = "",
    message: str = "",
    base_revision_id: int | None = None,
    embed: bool = True,
) -> ExplanationRevision:
    """Save a new version. `base_revision_id` is the revision the editor started from, if known."""
    revision = _append_revision(
        explanation=explanation,
        author=author,
        text=explanation_text_clean(text),
        rule=rule_from_text(rule_text),
        message=message,
        base_revision_id=base_revision_id,
    )
    if embed:
        revisions_embed(revisions=[revision])
    return revision


def explanation_revert(
    *, explanation: Explanation, revision: ExplanationRevision, author, message: str = ""
) -> ExplanationRevision:
    """Make an earlier revision's text and rule current again, as a new revision (history only grows)."""
    if revision.explanation_id != explanation.pk:
        raise ValidationError("That revision belongs to another explanation.")
    note = f"Reverted to revision {revision.pk}" + (f": {message}" if message else "")
    new_revision = _append_revision(
        explanation=explanation,
        author=author,
        text=revision.text,
        rule=revision.rule,
        message=note,
        base_revision_id=None,
        reverting_to=revision,
    )
    existing = RevisionEmbedding.objects.filter(revision=revision).first()
    if existing is not None:  # same text, same vector
        RevisionEmbedding.objects.create(revision=new_revision, vector=existing.vector, encoder=existing.encoder)
    else:
        revisions_embed(revisions=[new_revision])
    return new_revision


def explanation_set_hidden(*, explanation: Explanation, moderator, hidden: bool) -> None:
    ensure_staff(moderator)
    with transaction.atomic():
        Explanation.objects.filter(pk=explanation.pk).update(hidden=hidden)
        feature_page_changed([explanation.feature_id])
    explanation.hidden = hidden
