"""Explain answers: an explanation of a camp rung's planted feature or of a real feature, scored at once by
the game's judge (judging.py) and finished as a round; a real feature's goes on the wiki as the player's own."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from explanations.core.rules import rule_matches
from explanations.services import explanations as explanation_services
from features.models import Feature
from scoring.core.errors import LLMError, ScoringInputError

from .. import items as feature_items
from ..core import camp
from ..core.explain import ExplainOutcome, score_explain_answer
from ..core.predict import scale_to_ten
from ..models import Round
from ..selectors import camp_rung
from .achievements import achievements_check
from .human_scores import explanation_scores_store
from .judging import fallback_judge, game_judge_build, game_judge_label
from .profiles import ensure_camp_rung_open, ensure_real_features_unlocked
from .rounds import new_seed, round_finish

MAX_EXPLANATION_LENGTH = explanation_services.MAX_EXPLANATION_LENGTH
Mode = Round.Mode


def _clean_explanation(text: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise ValidationError({"text": "Write the explanation: what makes this feature fire?"})
    if len(text) > MAX_EXPLANATION_LENGTH:
        raise ValidationError({"text": f"Keep an explanation under {MAX_EXPLANATION_LENGTH} characters."})
    return text


def _rule_matcher(rule_text: str):
    rule = explanation_services.rule_from_text(rule_text)
    return (lambda tokens: rule_matches(rule, tokens)) if rule else None


def _focus(tokens: list[str], focus: int, *, width: int = 40) -> tuple[int, int]:
    start = max(0, min(focus - width * 2 // 3, len(tokens) - width))
    return start, min(len(tokens), start + width)


def _outcome_details(outcome: ExplainOutcome, max_activation: float) -> dict:
    misses = []
    for miss in outcome.misses:
        tokens, values = list(miss.record.tokens), list(miss.record.activations)
        focus = miss.marked[0] if miss.marked else miss.record.argmax
        # A missed active window shows its strongest token marked; a flagged silent one, what fuzzing marked.
        marked = list(miss.marked) or ([miss.record.argmax] if miss.label else [])
        start, end = _focus(tokens, focus)
        misses.append(
            {
                "kind": miss.kind,
                "label": miss.label,
                "summary": miss.summary,
                "tokens": tokens[start:end],
                "values": [scale_to_ten(v, max_activation) for v in values[start:end]],
                "marked": [m - start for m in marked if start <= m < end],
            }
        )
    scores = {name: round(result.value, 4) for name, result in outcome.results.items()}
    details = {
        "headline": round(outcome.headline, 4),
        "scores": scores,
        "mixes": {name: result.example_mix for name, result in outcome.results.items()},
        "misses": misses,
        "readout": outcome.readout.to_json(),
        "judge": outcome.judge,
        "judge_label": game_judge_label(outcome.judge),
    }
    if outcome.planted_match is not None:
        details["planted_match"] = round(outcome.planted_match, 4)
    return details


def _score(text: str, examples, *, rule=None, planted=None) -> tuple[ExplainOutcome, str]:
    """Score with the game's judge; an external judge that fails mid-way gives way to the offline one, and the
    note says so (the answer is neither lost nor scored 0 in silence)."""
    chosen = game_judge_build(rule=rule)
    try:
        return score_explain_answer(text, examples, judge=chosen.judge, rule=rule, planted=planted), chosen.note
    except LLMError as error:
        chosen = fallback_judge(rule=rule, error=error)
        return score_explain_answer(text, examples, judge=chosen.judge, rule=rule, planted=planted), chosen.note


def _existing_token_round(user, client_token: str) -> Round | None:
    return Round.objects.filter(user=user, client_token=client_token).first() if client_token else None


def _finish_scored_round(*, user, mode: str, skill: float, client_token: str, **fields) -> Round:
    try:
        with transaction.atomic():
            round_obj = Round.objects.create(user=user, mode=mode, skill=skill, client_token=client_token, **fields)
            round_obj = Round.objects.select_for_update().get(pk=round_obj.pk)
            round_finish(round_obj=round_obj)
    except IntegrityError:  # the same form, sent twice at once
        existing = _existing_token_round(user, client_token)
        if existing is None:
            raise
        return existing
    achievements_check(user=user)
    return round_obj


def camp_explain_submit(*, user, rung_slug: str, text: str, client_token: str = "") -> Round:
    """Score an explanation of a camp rung's planted feature at once; nothing goes on the wiki."""
    rung = camp_rung(slug=rung_slug)
    ensure_camp_rung_open(user=user, rung=rung)
    existing = _existing_token_round(user, client_token)
    if existing is not None:
        return existing
    text = _clean_explanation(text)
    # The rung's feature is a planted rule: the answer is judged by how its reading matches the rule's firing.
    examples = camp.rung_example_set(rung, seed=camp.RUNGS.index(rung))
    outcome, note = _score(text, examples, planted=rung.rule.fires)
    details = {"text": text, **_outcome_details(outcome, 10.0), "answer": rung.explanation, "judge_note": note}
    return _finish_scored_round(
        user=user, mode=Mode.CAMP_EXPLAIN, skill=outcome.headline, client_token=client_token, rung=rung.slug,
        details=details,
    )  # fmt: skip


def explain_submit(*, user, feature: Feature, text: str, rule_text: str = "", client_token: str = "") -> Round:
    """Score an explanation of a real feature at once with the offline scorers (hard negatives included),
    then put it on the wiki as the player's own explanation with its scores."""
    ensure_real_features_unlocked(user=user)
    existing = _existing_token_round(user, client_token)
    if existing is not None:
        return existing
    text = _clean_explanation(text)
    matcher = _rule_matcher(rule_text)
    seed = new_seed()
    examples = feature_items.feature_example_set(feature_items.feature_windows(feature), seed=seed)
    try:
        outcome, note = _score(text, examples, rule=matcher)
    except ScoringInputError as error:
        raise ValidationError(f"This feature cannot be scored right now ({error}); try another one.") from error
    explanation = explanation_services.explanation_create(
        feature=feature, text=text, author=user, rule_text=rule_text, message="Written in the game (Explain mode)"
    )
    explanation_scores_store(explanation=explanation, outcome=outcome)
    details = {"text": text, **_outcome_details(outcome, feature.max_activation), "judge_note": note}
    return _finish_scored_round(
        user=user, mode=Mode.EXPLAIN, skill=outcome.headline, client_token=client_token, feature=feature,
        explanation=explanation, seed=seed, details=details,
    )  # fmt: skip
