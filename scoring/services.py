"""Explaining and scoring stored features on the task queue: the writes that connect the explainers
(scoring/explainers) and the scorers (scoring/core) to the database.

Three pipelines share one kind of run (features.PipelineRun, kind `explanations` or `scoring`) and one
task, `scoring.tasks.run_step`:

- explain every feature of a source (and optionally score what was written),
- score every explanation of a source with chosen scorers,
- explain and score one feature, or score one explanation (the buttons on a feature's page).

A run goes feature by feature in index order. Each step works for up to STEP_SECONDS, saves a cursor and
queues the next step, so no task outlives the queue's timeout and a crashed worker loses one step. Everything
is idempotent: a machine explanation is keyed on (feature, method, model) and a score on (revision, scorer,
judge), both with database constraints, so running again finds what is there instead of writing it twice.
A feature that fails is recorded on the run (`failures`) and the run goes on; only an LLM endpoint that
will fail every feature the same way (down, bad key, no credit) stops it.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from explanations import services as wiki
from explanations.models import Explanation
from explanations.rules import rule_matches
from features.models import Feature, PipelineRun, Source
from features.services import enqueue, feature_page_changed
from scoring.core.embedding import SentenceEmbedder
from scoring.core.errors import LLMError, ScoringInputError
from scoring.core.judges import Judge, OfflineJudge
from scoring.core.scorers import SCORERS, get_scorer
from scoring.explainers import EXPLAINERS, Explainer, ExplainerError, get_explainer

from .stored_examples import FeatureExamples, FeatureRecords
from .models import ExplanationScore

logger = logging.getLogger(__name__)

STEP_SECONDS = 300
STEP_TASK = "scoring.tasks.run_step"
JUDGES = ("offline", "openai-compatible")
# What the buttons on a feature page run: offline, so they always work and cost nothing.
PAGE_SCORERS = ("simulation", "detection", "fuzzing", "embedding", "rule")
DEFAULT_SCORERS = ("simulation", "detection", "fuzzing")
MAX_FAILURES_SHOWN = 200


class PipelineRequestError(ValueError):
    """A run that cannot be started as asked; the message says what to change."""


class ScoringIncomplete(ScoringInputError):
    """Some scorers could not score an explanation (each says why); the others' scores are saved."""

    def __init__(self, message: str, *, written: list) -> None:
        super().__init__(message)
        self.written = written


# --- Choosing explainers, judges and scorers ----------------------------------------------------------


def available_explainers() -> list[str]:
    """The explainers this site can run: token-stats always; the LLM ones when configured."""
    names = ["token-stats"]
    if settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL != "https://api.openai.com/v1":
        names.append("openai-compatible")
    if settings.LOCAL_EXPLAINER_MODEL_PATH:
        names.append("local-transformers")
    return names


def explainer_build(params: dict) -> Explainer:
    """The explainer a run's parameters name (its LLM settings from the site's settings, never the run)."""
    from scoring.llm_settings import llm_config, local_model_path

    name = params.get("explainer", "token-stats")
    prompt = {"prompt": params["prompt"]} if params.get("prompt") else {}
    if name == "openai-compatible":
        config = llm_config(base_url=params.get("llm_base_url", ""), model=params.get("llm_model", ""))
        return get_explainer(name, config=config, **prompt)
    if name == "local-transformers":
        return get_explainer(name, model_path=local_model_path(params.get("local_model_path", "")), **prompt)
    return get_explainer(name)


def explainer_model_name(explainer: Explainer) -> str:
    """What the explainer records as its model, known before it runs (the key of its explanations)."""
    if explainer.name == "openai-compatible":
        return explainer.config.model
    if explainer.name == "local-transformers":
        return Path(explainer.model_path).name
    return "token statistics"


def judge_build(params: dict) -> Judge | None:
    """None means the offline judge (built per explanation, since it reads the explanation's rule)."""
    if params.get("judge", "offline") != "openai-compatible":
        return None
    from scoring.core.llm import ChatClient
    from scoring.core.llm_judge import LLMJudge
    from scoring.llm_settings import llm_config

    config = llm_config(base_url=params.get("llm_base_url", ""), model=params.get("llm_model", ""))
    return LLMJudge(ChatClient(config), simulation_mode=params.get("simulation_mode", "json"))


def judge_key(scorer: str, judge: Judge | None) -> str:
    """The `judge` a score of this scorer is stored under (see ExplanationScore.from_result)."""
    if scorer == "embedding":
        return SentenceEmbedder.name
    if not get_scorer(scorer).uses_judge:
        return ""
    return judge.name if judge is not None else OfflineJudge.name


def _check_choices(*, explainer: str | None = None, scorers=(), judge: str = "offline") -> list[str]:
    if explainer is not None and explainer not in EXPLAINERS:
        raise PipelineRequestError(f"Unknown explainer {explainer!r}; choose one of {', '.join(sorted(EXPLAINERS))}.")
    unknown = [name for name in scorers if name not in SCORERS or name == "human"]
    if unknown:
        choices = ", ".join(sorted(set(SCORERS) - {"human"}))
        raise PipelineRequestError(
            f"Unknown scorer {unknown[0]!r}; choose from {choices} (human scores come from Verify mode)."
        )
    if judge not in JUDGES:
        raise PipelineRequestError(f"Unknown judge {judge!r}; choose one of {', '.join(JUDGES)}.")
    return list(dict.fromkeys(scorers))


# --- One feature: explain, score ----------------------------------------------------------------------


def generated_explanation_get_or_create(
    *, feature: Feature, explainer: Explainer, records: FeatureRecords
) -> tuple[Explanation, bool]:
    """The feature's explanation by this explainer (method + model), written now if there is none."""
    model_name = explainer_model_name(explainer)
    existing = Explanation.objects.filter(
        feature=feature, generated=True, method=explainer.name, explainer_model=model_name
    ).first()
    if existing is not None:
        return existing, False
    generated = explainer.explain(records.records(), max_activation=feature.max_activation or None)
    try:
        with transaction.atomic():
            explanation = wiki.explanation_create(
                feature=feature,
                text=generated.text,
                method=generated.method,
                explainer_model=model_name,
                rule_text=generated.rule or "",
                message=f"Written by {generated.method} ({model_name})",
                generated=True,
                embed=False,  # embedded in batches by the run step
            )
    except IntegrityError:  # another run wrote it meanwhile: theirs stands
        return Explanation.objects.get(
            feature=feature, generated=True, method=explainer.name, explainer_model=model_name
        ), False
    return explanation, True


def _rule_matcher(rule: dict | None):
    return (lambda tokens: rule_matches(rule, list(tokens))) if rule else None


def explanation_score(
    *,
    explanation: Explanation,
    scorers: list[str],
    examples: FeatureExamples,
    records: FeatureRecords | None = None,
    judge: Judge | None = None,
    force: bool = False,
) -> list[ExplanationScore]:
    """Score the explanation's current text with each scorer it has no score from yet (with this judge);
    `force` computes them again and replaces them. Returns the scores written. The rule scorer is skipped
    for an explanation without a rule. A scorer that cannot score it (e.g. detection when every example
    window fires) raises ScoringIncomplete after the others' scores are saved."""
    revision = explanation.current_revision
    if revision is None:
        raise ScoringInputError("The explanation has no text to score.")
    rule = revision.rule
    wanted = [name for name in scorers if name != "rule" or rule]
    existing = set(ExplanationScore.objects.filter(revision=revision, scorer__in=wanted).values_list("scorer", "judge"))
    todo = [name for name in wanted if force or (name, judge_key(name, judge)) not in existing]
    if not todo:
        return []
    records = records or examples.feature_records(explanation.feature)
    scoring = examples.example_set(records, explanation=revision.text, rule=rule)
    matcher = _rule_matcher(rule)
    written, errors = [], []
    for name in todo:
        try:
            result = get_scorer(name).score(
                revision.text, scoring.example_set, judge=judge or OfflineJudge(rule=matcher), rule=matcher
            )
        except ScoringInputError as error:  # this scorer cannot score it; the others still may
            errors.append(f"{name}: {error}")
            continue
        result.details["shown"] = scoring.shown
        score = ExplanationScore.from_result(result, explanation=explanation, revision=revision)
        with transaction.atomic():
            if force:
                ExplanationScore.objects.filter(revision=revision, scorer=score.scorer, judge=score.judge).delete()
            try:
                with transaction.atomic():
                    score.save()
            except IntegrityError:  # scored meanwhile by another run
                continue
        written.append(score)
    _update_best_score(explanation, written)
    if errors:
        raise ScoringIncomplete(" ".join(errors), written=written)
    return written


def _update_best_score(explanation: Explanation, scores: list[ExplanationScore]) -> None:
    values = [score.value for score in scores]
    if not values:
        return
    best = max(values)
    if explanation.best_score is None or best > explanation.best_score:
        with transaction.atomic():
            Explanation.objects.filter(pk=explanation.pk).update(best_score=best)
            feature_page_changed([explanation.feature_id])
        explanation.best_score = best


# --- Runs -------------------------------------------------------------------------------------------


def _existing_unfinished(kind: str, params: dict) -> PipelineRun | None:
    """The same request still queued or running (a double click, a repeated command): reuse it."""
    keys = {name: params.get(name) for name in ("scope", "source", "feature", "explanation", "explainer", "scorers")}
    for run in PipelineRun.objects.filter(kind=kind).exclude(
        status__in=[PipelineRun.Status.SUCCEEDED, PipelineRun.Status.FAILED]
    ):
        if {name: run.params.get(name) for name in keys} == keys and not run.is_stalled:
            return run
    return None


def _run_create(kind: str, params: dict, *, model, created_by, sync: bool) -> tuple[PipelineRun, bool]:
    # django-q2's own sync setting (Q_CLUSTER["sync"]) makes every run inline, as it does its tasks.
    sync = sync or bool(settings.Q_CLUSTER.get("sync", False))
    existing = None if sync else _existing_unfinished(kind, params)
    if existing is not None:
        return existing, False
    run = PipelineRun.objects.create(
        kind=kind, model=model, params={**params, "sync": sync}, created_by=created_by, message="Queued"
    )
    return run, True


def explain_run_create(
    *,
    source: Source | None = None,
    feature: Feature | None = None,
    explainer: str = "token-stats",
    scorers: list[str] = (),
    judge: str = "offline",
    prompt: str = "",
    llm_model: str = "",
    llm_base_url: str = "",
    created_by=None,
    sync: bool = False,
) -> tuple[PipelineRun, bool]:
    """A queued run that explains every feature of `source` (or the one `feature`) with `explainer`, then
    scores what it wrote with `scorers`. Returns (run, whether it is new): the same request while one is
    still running returns that one."""
    if (source is None) == (feature is None):
        raise PipelineRequestError("Explain either a source or one feature.")
    scorers = _check_choices(explainer=explainer, scorers=scorers, judge=judge)
    params = {
        "scope": "feature" if feature else "source",
        "source": (feature.source_id if feature else source.pk),
        "feature": feature.pk if feature else None,
        "explanation": None,
        "explainer": explainer,
        "scorers": scorers,
        "judge": judge,
        "prompt": prompt,
        "llm_model": llm_model,
        "llm_base_url": llm_base_url,
    }
    model = (feature.source if feature else source).model
    return _run_create(PipelineRun.Kind.EXPLANATIONS, params, model=model, created_by=created_by, sync=sync)


def score_run_create(
    *,
    source: Source | None = None,
    explanation: Explanation | None = None,
    scorers: list[str] = DEFAULT_SCORERS,
    judge: str = "offline",
    force: bool = False,
    llm_model: str = "",
    llm_base_url: str = "",
    created_by=None,
    sync: bool = False,
) -> tuple[PipelineRun, bool]:
    """A queued run that scores every visible explanation of `source` (or the one `explanation`) with
    `scorers`, skipping scores already there unless `force`."""
    if (source is None) == (explanation is None):
        raise PipelineRequestError("Score either a source or one explanation.")
    scorers = _check_choices(scorers=scorers, judge=judge)
    if not scorers:
        raise PipelineRequestError("Choose at least one scorer.")
    feature = explanation.feature if explanation else None
    params = {
        "scope": "explanation" if explanation else "source",
        "source": feature.source_id if feature else source.pk,
        "feature": feature.pk if feature else None,
        "explanation": explanation.pk if explanation else None,
        "explainer": None,
        "scorers": scorers,
        "judge": judge,
        "force": force,
        "llm_model": llm_model,
        "llm_base_url": llm_base_url,
    }
    model = (feature.source if feature else source).model
    return _run_create(PipelineRun.Kind.SCORING, params, model=model, created_by=created_by, sync=sync)


def run_enqueue(run: PipelineRun) -> PipelineRun:
    """Queue a run's first step (a sync run runs to the end here and now)."""
    task_id = enqueue(run, STEP_TASK, run.pk)
    PipelineRun.objects.filter(pk=run.pk).update(task_id=task_id)
    run.refresh_from_db()
    return run


def _features(run: PipelineRun):
    params = run.params
    if params.get("feature"):
        return Feature.objects.filter(pk=params["feature"])
    features = Feature.objects.filter(source_id=params["source"])
    if run.kind == PipelineRun.Kind.EXPLANATIONS:
        return features.filter(max_activation__gt=0)  # a feature that never fires has nothing to explain
    return features.filter(explanations__hidden=False, explanations__current_revision__isnull=False).distinct()


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


def run_step(*, run_id: int) -> PipelineRun:
    """Work through a run's features from its cursor for up to STEP_SECONDS, then queue the next step or
    finish. Safe to run again: what is done is found, not redone."""
    run = PipelineRun.objects.select_related("model").get(pk=run_id)
    if run.is_finished:
        return run
    try:
        return _run_step(run)
    except Exception as error:  # noqa: BLE001 - the run must end failed and resumable, not stay "running"
        logger.exception("Run %s failed", run.pk)
        return _run_finish(
            run, error=f"Internal error ({type(error).__name__}): {error}. Resume the run to go on where it stopped."
        )


def _run_step(run: PipelineRun) -> PipelineRun:
    params = run.params
    features = _features(run).select_related("source__model").order_by("index")
    now = timezone.now()
    if run.status == PipelineRun.Status.QUEUED:
        total = features.count()
        PipelineRun.objects.filter(pk=run.pk).update(
            status=PipelineRun.Status.RUNNING, started_at=now, heartbeat_at=now, items_total=total, message="Starting"
        )
        run.refresh_from_db()
    try:
        explainer = explainer_build(params) if run.kind == PipelineRun.Kind.EXPLANATIONS else None
        judge = judge_build(params)
    except (ExplainerError, LLMError) as error:
        return _run_finish(run, error=str(error))

    source = Source.objects.select_related("model").get(pk=params["source"])
    examples = FeatureExamples(source)
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
            enqueue(run, STEP_TASK, run.pk)
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
        queryset = Explanation.objects.filter(feature=feature, hidden=False, current_revision__isnull=False)
        if params.get("explanation"):
            queryset = queryset.filter(pk=params["explanation"])
        explanations = list(queryset.select_related("current_revision", "feature__source__model").order_by("pk"))
        if not explanations:
            raise ScoringInputError("The explanation is hidden or has no text.")
    for explanation in explanations:
        records = records or examples.feature_records(feature)
        try:
            outcome.scores += explanation_score(
                explanation=explanation, scorers=scorers, examples=examples, records=records, judge=judge, force=force
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
        wiki.revisions_embed(revisions=revisions)
    except Exception:  # noqa: BLE001
        logger.warning("Embedding %d new revisions failed", len(revisions), exc_info=True)


def _step_save(run: PipelineRun, cursor: int, totals: _StepTotals, *, advance: bool = True) -> _StepTotals:
    """Add this feature's outcome to the run (row-locked, so a racing step cannot lose an update). Without
    `advance` the feature is not counted as done: the run stopped on it, and resuming tries it again."""
    with transaction.atomic():
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
        PipelineRun.objects.filter(pk=run.pk).update(
            params=params,
            failures=failures,
            items_done=done,
            progress=min(progress, 0.99),
            message=message,
            heartbeat_at=timezone.now(),
        )
    run.params = params
    return _StepTotals()


def _run_finish(run: PipelineRun, *, error: str = "") -> PipelineRun:
    run.refresh_from_db()
    params = run.params
    failed = params.get("failed_count", 0)
    summary = (
        f"{params.get('explanations_written', 0)} explanation(s) written, "
        f"{params.get('scores_written', 0)} score(s) written, {run.items_done:,} feature(s)"
    )
    fields = {"finished_at": timezone.now(), "heartbeat_at": timezone.now()}
    if error:
        fields.update(status=PipelineRun.Status.FAILED, error=error, message=f"Failed: {summary}")
    else:
        outcome = f"Succeeded with {failed} failure{'s' if failed != 1 else ''}" if failed else "Done"
        fields.update(status=PipelineRun.Status.SUCCEEDED, progress=1.0, message=f"{outcome}: {summary}")
    PipelineRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run


def run_resume(*, run_id: int) -> PipelineRun:
    """Queue a failed or stalled explanation/scoring run again from its cursor (the feature it stopped on
    is tried again, so its failure is taken off the list)."""
    run = PipelineRun.objects.get(pk=run_id)
    if run.status == PipelineRun.Status.SUCCEEDED:
        return run
    params, failures = dict(run.params), list(run.failures)
    if params.pop("stopped_on_failure", False) and failures:
        failures.pop()
        params["failed_count"] = max(0, params.get("failed_count", 1) - 1)
    PipelineRun.objects.filter(pk=run.pk).update(
        params=params,
        failures=failures,
        status=PipelineRun.Status.RUNNING if run.started_at else PipelineRun.Status.QUEUED,
        error="",
        finished_at=None,
        heartbeat_at=timezone.now(),
        message="Resuming",
    )
    run.refresh_from_db()
    return run_enqueue(run)


# --- Requests from a feature's page ------------------------------------------------------------------


def feature_explain_request(*, feature: Feature, user, explainer: str = "token-stats") -> tuple[PipelineRun, bool]:
    """A signed-in reader's "Generate an explanation": queue a run that explains the feature with
    `explainer` (one this site can run) and scores it with the page's offline scorers. The same request
    while one is under way returns that run; a feature whose explanation exists gets it scored, not redone."""
    wiki.ensure_can_write(user)
    if wiki.feature_is_locked(feature) and not user.is_staff:
        raise PermissionDenied("A moderator has locked this feature's explanations.")
    if explainer not in available_explainers():
        raise PipelineRequestError(f"This site cannot run the {explainer!r} explainer; choose token-stats.")
    run, created = explain_run_create(feature=feature, explainer=explainer, scorers=list(PAGE_SCORERS), created_by=user)
    if created:
        run = run_enqueue(run)
    return run, created


def explanation_score_request(*, explanation: Explanation, user) -> tuple[PipelineRun, bool]:
    """A signed-in reader's "Score": queue a run scoring the explanation's current text with the page's
    offline scorers (only those it has no score from yet)."""
    wiki.ensure_can_write(user)
    if explanation.hidden or explanation.current_revision_id is None:
        raise PermissionDenied("That explanation is hidden or empty; it cannot be scored.")
    run, created = score_run_create(explanation=explanation, scorers=list(PAGE_SCORERS), created_by=user)
    if created:
        run = run_enqueue(run)
    return run, created
