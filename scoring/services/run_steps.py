"""The step of an explanation or scoring run (the django-q2 task scoring.tasks.run_step).

A run goes feature by feature in index order. Each step works for up to STEP_SECONDS, saves a cursor and queues
the next step, so no task outlives the queue's timeout and a crashed worker loses one step. Everything is
idempotent: a machine explanation is keyed on (feature, method, model) and a score on (revision, scorer, judge),
both with database constraints, so running again finds what is there instead of writing it twice. A feature
that fails is recorded on the run (`failures`) and the run goes on; only an LLM endpoint that will fail every
feature the same way (down, bad key, no credit) stops it. The run itself (queueing, progress, failure, resuming)
is the run engine's (features/services/runs.py).
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from explanations.models import Explanation
from explanations.querysets import visible_explanation
from explanations.services import explanations as explanation_services
from features.models import Feature, PipelineRun, Source
from features.services.runs import run_enqueue, run_fail, run_succeed, run_task_enqueue, run_update
from features.services.workers import (
    connection_replace_if_dropped,
    run_claim,
    run_claim_holds,
    run_claim_release,
)
from scoring.core.errors import LLMError, ScoringInputError
from scoring.core.offline_judges import DEFAULT_JUDGE
from scoring.explainers import ExplainerError
from scoring.stored_examples import FeatureExamples

from .backends import explainer_build, judge_build, offline_judge_name
from .generated_explanations import generated_explanation_get_or_create
from .runs import STEP_TASK, PipelineRequestError, score_run_create
from .scores import ScoringIncomplete, explanation_score

logger = logging.getLogger(__name__)

STEP_SECONDS = 300
MAX_FAILURES_SHOWN = 200


def _features(run: PipelineRun):
    params = run.params
    if params.get("feature"):
        return Feature.objects.filter(pk=params["feature"])
    features = Feature.objects.filter(source_id=params["source"])
    if run.kind == PipelineRun.Kind.EXPLANATIONS:
        return features.filter(max_activation__gt=0)  # a feature that never fires has nothing to explain
    return features.filter(visible_explanation("explanations")).distinct()


FEATURE_BATCH = 200  # features read at a time by a step


def _in_batches(features: QuerySet[Feature], *, after: int) -> Iterator[Feature]:
    """The features (ordered by index) after index `after`, read FEATURE_BATCH at a time, with no query left open while
    one is worked on: on SQLite an open read pins the connection to its snapshot, and once another process
    (a worker saving a task's result, the web server) has written, this connection's next write fails at once
    with "database is locked" instead of waiting its turn."""
    while batch := list(features.filter(index__gt=after)[:FEATURE_BATCH]):
        yield from batch
        after = batch[-1].index


@dataclass
class _StepTotals:
    explanations: int = 0
    scores: int = 0
    failures: list[dict] = field(default_factory=list)


def _failure(feature: Feature, error: Exception | str) -> dict:
    return {"feature": str(feature), "url": feature.get_absolute_url(), "error": str(error)[:1000]}


def _reason(run: PipelineRun, feature: Feature, error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    if isinstance(error, ExplainerError | ScoringInputError | LLMError):
        return str(error)
    logger.exception("Run %s failed on %s", run.pk, feature)
    return f"Internal error ({type(error).__name__}): {error}"


def _is_fatal(error: Exception) -> bool:
    """An LLM endpoint that is down, refuses the key or is out of credit (also behind an explainer's error)."""
    return any(isinstance(e, LLMError) and e.fatal for e in (error, error.__cause__))


def feature_run_step(*, run_id: int) -> PipelineRun:
    """Work through a run's features from its cursor for up to STEP_SECONDS, then queue the next step or
    finish. Safe to run again: what is done is found, not redone."""
    run = PipelineRun.objects.select_related("model").get(pk=run_id)
    if run.is_finished:
        return run
    # The claim (features/services/workers.py): a copy of this step while a live worker runs it does nothing,
    # and a step that the watchdog gave up on and queued again stops at its next save.
    claim = run_claim(run_id=run.pk)
    if claim is None:
        return run
    run.step_claim = claim  # not a field: refresh_from_db must not replace it with a newer claim
    try:
        return _run_step(run)
    except _ClaimLost:
        logger.warning("Step of run %s (claim %s) was superseded; it stops", run.pk, claim)
        return run
    except Exception as error:  # noqa: BLE001 - the run must end failed and resumable, not stay "running"
        logger.exception("Run %s failed", run.pk)
        connection_replace_if_dropped()  # so that the failure can be written
        return _run_finish(
            run, error=f"Internal error ({type(error).__name__}): {error}. Resume the run to go on where it stopped."
        )
    finally:
        run_claim_release(run_id=run.pk, claim=claim)


class _ClaimLost(Exception):
    """This step's claim on its run is no longer its own: another copy of the step goes on instead."""


def _run_step(run: PipelineRun) -> PipelineRun:
    params = run.params
    features = _features(run).select_related("source__model").order_by("index")
    if run.status == PipelineRun.Status.QUEUED:
        total = features.count()
        run_update(
            run=run, status=PipelineRun.Status.RUNNING, started_at=timezone.now(), items_total=total, message="Starting"
        )
        run.refresh_from_db()
    try:
        explainer = explainer_build(params=params) if run.kind == PipelineRun.Kind.EXPLANATIONS else None
        judge = judge_build(params=params)
    except (ExplainerError, LLMError, ScoringInputError) as error:
        return _run_finish(run, error=str(error))

    source = Source.objects.select_related("model").get(pk=params["source"])
    # A source run computes the shared pool of scoring windows once, in one batched pass (stored_examples).
    examples = FeatureExamples(source, batched=params.get("scope") == "source")
    cursor = params.get("cursor", -1)
    started = time.monotonic()
    totals = _StepTotals()
    new_revisions = []
    for feature in _in_batches(features, after=cursor):
        try:
            # No transaction around the whole feature: live inference and LLM calls happen in it, and each
            # write is atomic by itself (an explanation without its scores yet is scored by the next run).
            written = _feature_work(run, feature, examples, explainer=explainer, judge=judge)
        except Exception as error:  # noqa: BLE001 - one feature's failure must not lose the others' work
            totals.failures.append(_failure(feature, _reason(run, feature, error)))
            if _is_fatal(error):  # every next feature would fail the same way
                _step_save(run, cursor, totals, advance=False)
                return _run_finish(run, error=f"Stopped at {feature}: {error}")
        else:
            totals.explanations += int(written.created)
            totals.scores += len(written.scores)
            if written.created:
                new_revisions.append(written.explanation.current_revision)
            if written.errors:
                totals.failures.append(_failure(feature, " ".join(written.errors)))
        cursor = feature.index
        totals = _step_save(run, cursor, totals)
        if time.monotonic() - started > STEP_SECONDS:
            _embed(new_revisions)
            run_claim_release(run_id=run.pk, claim=run.step_claim)  # so that the next step may claim it at once
            run_task_enqueue(run=run, task=STEP_TASK, arg=run.pk)
            run.refresh_from_db()
            return run
    _embed(new_revisions)
    return _run_finish(run)


@dataclass
class _FeatureOutcome:
    explanation: Explanation | None = None
    created: bool = False
    scores: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _feature_work(run: PipelineRun, feature: Feature, examples: FeatureExamples, *, explainer, judge):
    """Explain (for an explanation run) and score one feature. Scorers that fail leave their reasons in
    `errors`; an explainer that fails raises."""
    params = run.params
    scorers = params.get("scorers", [])
    force = params.get("force", False)
    outcome = _FeatureOutcome()
    records = None
    if run.kind == PipelineRun.Kind.EXPLANATIONS:
        records = examples.feature_records(feature)
        outcome.explanation, outcome.created = generated_explanation_get_or_create(
            feature=feature, explainer=explainer, records=records
        )
        explanations = [outcome.explanation] if scorers else []
    else:
        queryset = Explanation.objects.visible().filter(feature=feature)
        if params.get("explanation"):
            queryset = queryset.filter(pk=params["explanation"])
        explanations = list(queryset.select_related("current_revision", "feature__source__model").order_by("pk"))
        if not explanations:
            raise ScoringInputError("The explanation is hidden or has no text.")
    for explanation in explanations:
        records = records or examples.feature_records(feature)
        try:
            outcome.scores += explanation_score(
                explanation=explanation,
                scorers=scorers,
                examples=examples,
                records=records,
                judge=judge,
                offline=offline_judge_name(params=params),
                force=force,
            )
        except ScoringIncomplete as incomplete:
            outcome.scores += incomplete.written
            outcome.errors.append(f"explanation {explanation.pk}: {incomplete}")
        except ScoringInputError as error:
            outcome.errors.append(f"explanation {explanation.pk}: {error}")
    return outcome


def _embed(revisions) -> None:
    """New revisions' sentence embeddings (semantic search) in one batch; a failure only delays them
    (`manage.py embed_explanations` fills in what is missing)."""
    if not revisions:
        return
    try:
        explanation_services.revisions_embed(revisions=revisions)
    except Exception:  # noqa: BLE001
        logger.warning("Embedding %d new revisions failed", len(revisions), exc_info=True)


def _step_save(run: PipelineRun, cursor: int, totals: _StepTotals, *, advance: bool = True) -> _StepTotals:
    """Add this feature's outcome to the run (row-locked, so a racing step cannot lose an update). Without
    `advance` the feature is not counted as done: the run stopped on it, and resuming tries it again."""
    with transaction.atomic():
        if not run_claim_holds(run_id=run.pk, claim=run.step_claim):
            raise _ClaimLost
        locked = PipelineRun.objects.select_for_update().get(pk=run.pk)
        params = {**locked.params, "cursor": cursor}
        params["explanations_written"] = params.get("explanations_written", 0) + totals.explanations
        params["scores_written"] = params.get("scores_written", 0) + totals.scores
        failures = [*locked.failures, *totals.failures][:MAX_FAILURES_SHOWN]
        failed_count = params.get("failed_count", 0) + len(totals.failures)
        params["failed_count"] = failed_count
        params["stopped_on_failure"] = not advance
        done = min(locked.items_done + int(advance), locked.items_total or locked.items_done + 1)
        progress = done / locked.items_total if locked.items_total else 1.0
        what = "Explained" if run.kind == PipelineRun.Kind.EXPLANATIONS else "Scored"
        message = f"{what} {done:,} of {locked.items_total:,} features" + (
            f" ({failed_count} failed)" if failed_count else ""
        )
        run_update(
            run=locked,
            params=params,
            failures=failures,
            items_done=done,
            progress=min(progress, 0.99),
            message=message,
        )
    run.params = params
    return _StepTotals()


def _run_finish(run: PipelineRun, *, error: str = "") -> PipelineRun:
    with transaction.atomic():
        if not run_claim_holds(run_id=run.pk, claim=run.step_claim):
            run.refresh_from_db()
            return run
        run, score_run = _run_finish_claimed(run, error=error)
    if score_run is not None:
        # Queued once the explain run's success is committed: a worker that takes the task at once finds the
        # score run's row, and a sync score run does not run inside this step's transaction.
        run_enqueue(run=score_run)
        run.refresh_from_db()
    return run


def _run_finish_claimed(run: PipelineRun, *, error: str = "") -> tuple[PipelineRun, PipelineRun | None]:
    run.refresh_from_db()
    params = run.params
    failed = params.get("failed_count", 0)
    summary = (
        f"{params.get('explanations_written', 0)} explanation(s) written, "
        f"{params.get('scores_written', 0)} score(s) written, {run.items_done:,} feature(s)"
    )
    if error:
        run_fail(run=run, error=error, message=f"Failed: {summary}")
        run.refresh_from_db()
        return run, None
    outcome = f"Succeeded with {failed} failure{'s' if failed != 1 else ''}" if failed else "Done"
    score_run = _score_run_after(run)
    if score_run is not None:
        summary += f"; scoring them in run #{score_run.pk}"
    run_succeed(run=run, message=f"{outcome}: {summary}")
    run.refresh_from_db()
    return run, score_run


def _score_run_after(run: PipelineRun) -> PipelineRun | None:
    """The score run an explain run asked for (`score_after`), created once every feature is explained, so
    that it cannot start before the explanations it scores exist. Its pk is kept on the explain run (written
    before the explain run is marked done: a step run again finds it, and does not create another)."""
    scorers = run.params.get("score_after") or []
    if run.kind != PipelineRun.Kind.EXPLANATIONS or not scorers:
        return None
    if run.params.get("score_run"):
        return None  # already queued by an earlier finish
    try:
        score_run, _ = score_run_create(
            source=Source.objects.get(pk=run.params["source"]),
            scorers=scorers,
            judge=run.params.get("judge") or DEFAULT_JUDGE,
            llm_model=run.params.get("llm_model", ""),
            llm_base_url=run.params.get("llm_base_url", ""),
            local_model_path=run.params.get("local_model_path", ""),
            created_by=run.created_by,
            sync=run.params.get("sync", False),
        )
    except PipelineRequestError as error:  # validated when the explain run was made; a judge since removed
        logger.warning("Run %s could not queue its score run: %s", run.pk, error)
        return None
    run_update(run=run, params={**run.params, "score_run": score_run.pk})
    return score_run
