"""Explanation and scoring runs: the requests that create them, and what resuming one queues again.

Three pipelines share these two kinds of run (features.PipelineRun, kind `explanations` or `scoring`), driven by
the run engine (features/services/runs.py) with one step task, `scoring.tasks.run_step` (run_steps.py):

- explain every feature of a source (and optionally score what was written),
- score every explanation of a source with chosen scorers,
- explain and score one feature, or score one explanation (the buttons on a feature's page).

Both kinds are registered with the run engine in ScoringConfig.ready().
"""

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied

from explanations.models import Explanation
from explanations.services import permissions as permission_services
from features.models import Feature, PipelineRun, Source
from features.services.runs import Resumption, run_create, run_enqueue
from scoring.core.errors import ScoringInputError
from scoring.core.offline_judges import DEFAULT_JUDGE, JUDGE_NAMES
from scoring.core.scorers import SCORERS
from scoring.explainers import EXPLAINERS

from .backends import available_explainers, judge_check

STEP_TASK = "scoring.tasks.run_step"
# What the buttons on a feature page run: offline, so they always work and cost nothing.
PAGE_SCORERS = ("simulation", "detection", "fuzzing", "embedding", "rule")
DEFAULT_SCORERS = ("simulation", "detection", "fuzzing")
# The parameters that make two requests the same: a second one while the first is unfinished gets the first.
SAME_REQUEST = ("scope", "source", "feature", "explanation", "explainer", "scorers", "score_after")


class PipelineRequestError(ValueError):
    """A run that cannot be started as asked; the message says what to change."""


def _check_choices(
    *, explainer: str | None = None, scorers=(), judge: str = DEFAULT_JUDGE, local_model_path: str = ""
) -> list[str]:
    if explainer is not None and explainer not in EXPLAINERS:
        raise PipelineRequestError(f"Unknown explainer {explainer!r}; choose one of {', '.join(sorted(EXPLAINERS))}.")
    unknown = [name for name in scorers if name not in SCORERS or name == "human"]
    if unknown:
        choices = ", ".join(sorted(set(SCORERS) - {"human"}))
        raise PipelineRequestError(
            f"Unknown scorer {unknown[0]!r}; choose from {choices} (human scores come from Verify mode)."
        )
    if judge not in JUDGE_NAMES:
        raise PipelineRequestError(f"Unknown judge {judge!r}; choose one of {', '.join(JUDGE_NAMES)}.")
    try:
        judge_check(judge=judge, local_model_path=local_model_path)
    except ScoringInputError as error:
        raise PipelineRequestError(str(error)) from error
    return list(dict.fromkeys(scorers))


def explain_run_create(
    *,
    source: Source | None = None,
    feature: Feature | None = None,
    explainer: str = "token-stats",
    scorers: list[str] = (),
    judge: str = DEFAULT_JUDGE,
    prompt: str = "",
    llm_model: str = "",
    llm_base_url: str = "",
    local_model_path: str = "",
    score_after: list[str] = (),
    created_by: AbstractBaseUser | None = None,
    sync: bool = False,
) -> tuple[PipelineRun, bool]:
    """A queued run that explains every feature of `source` (or the one `feature`) with `explainer`, scoring
    each explanation as it is written with `scorers`. With `score_after` (a source only) it writes every
    explanation first, and its success queues a score run of the source with those scorers: the explanations
    all land quickly, and the slower scoring follows. Returns (run, whether it is new): the same request while
    one is still running returns that one."""
    if (source is None) == (feature is None):
        raise PipelineRequestError("Explain either a source or one feature.")
    if score_after and feature is not None:
        raise PipelineRequestError("Scoring after explaining is for a whole source; pass scorers for one feature.")
    scorers = _check_choices(explainer=explainer, scorers=scorers, judge=judge, local_model_path=local_model_path)
    score_after = _check_choices(scorers=score_after, judge=judge, local_model_path=local_model_path)
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
        "local_model_path": local_model_path,
        "score_after": score_after,
    }
    model = (feature.source if feature else source).model
    return run_create(
        kind=PipelineRun.Kind.EXPLANATIONS,
        params=params,
        model=model,
        created_by=created_by,
        sync=sync,
        same_as=SAME_REQUEST,
    )


def score_run_create(
    *,
    source: Source | None = None,
    explanation: Explanation | None = None,
    scorers: list[str] = DEFAULT_SCORERS,
    judge: str = DEFAULT_JUDGE,
    force: bool = False,
    llm_model: str = "",
    llm_base_url: str = "",
    local_model_path: str = "",
    created_by: AbstractBaseUser | None = None,
    sync: bool = False,
) -> tuple[PipelineRun, bool]:
    """A queued run that scores every visible explanation of `source` (or the one `explanation`) with
    `scorers`, skipping scores already there unless `force`."""
    if (source is None) == (explanation is None):
        raise PipelineRequestError("Score either a source or one explanation.")
    scorers = _check_choices(scorers=scorers, judge=judge, local_model_path=local_model_path)
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
        "local_model_path": local_model_path,
    }
    model = (feature.source if feature else source).model
    return run_create(
        kind=PipelineRun.Kind.SCORING,
        params=params,
        model=model,
        created_by=created_by,
        sync=sync,
        same_as=SAME_REQUEST,
    )


def feature_run_resume(run: PipelineRun) -> Resumption:
    """What resuming an explanation or scoring run queues (the run engine's run_resume calls it): its step,
    from its cursor. The feature it stopped on is tried again, so that feature's failure is taken off the list."""
    params, failures = dict(run.params), list(run.failures)
    if params.pop("stopped_on_failure", False) and failures:
        failures.pop()
        params["failed_count"] = max(0, params.get("failed_count", 1) - 1)
    return Resumption(
        tasks=[(STEP_TASK, run.pk)],
        status=PipelineRun.Status.RUNNING if run.started_at else PipelineRun.Status.QUEUED,
        message="Resuming",
        summary=f"Run #{run.pk} goes on from the feature after the last one it finished.",
        fields={"params": params, "failures": failures},
    )


# --- Requests from a feature's page ------------------------------------------------------------------


def feature_explain_request(
    *, feature: Feature, user: AbstractBaseUser, explainer: str = "token-stats"
) -> tuple[PipelineRun, bool]:
    """A signed-in reader's "Generate an explanation": queue a run that explains the feature with
    `explainer` (one this site can run) and scores it with the page's offline scorers. The same request
    while one is under way returns that run; a feature whose explanation exists gets it scored, not redone."""
    permission_services.ensure_can_write(user)
    if permission_services.feature_is_locked(feature) and not user.is_staff:
        raise PermissionDenied("A moderator has locked this feature's explanations.")
    if explainer not in available_explainers():
        raise PipelineRequestError(f"This site cannot run the {explainer!r} explainer; choose token-stats.")
    run, created = explain_run_create(feature=feature, explainer=explainer, scorers=list(PAGE_SCORERS), created_by=user)
    if created:
        run = run_enqueue(run=run)
    return run, created


def explanation_score_request(*, explanation: Explanation, user: AbstractBaseUser) -> tuple[PipelineRun, bool]:
    """A signed-in reader's "Score": queue a run scoring the explanation's current text with the page's
    offline scorers (only those it has no score from yet)."""
    permission_services.ensure_can_write(user)
    if explanation.hidden or explanation.current_revision_id is None:
        raise PermissionDenied("That explanation is hidden or empty; it cannot be scored.")
    run, created = score_run_create(explanation=explanation, scorers=list(PAGE_SCORERS), created_by=user)
    if created:
        run = run_enqueue(run=run)
    return run, created


def revision_score_queue(*, explanation: Explanation, author: AbstractBaseUser | None) -> PipelineRun | None:
    """Queue a run scoring an explanation's new text with the page's offline scorers (a new revision's scores
    are its own; see scores.revision_scores_follow). None if it is hidden, or such a run is already waiting."""
    if explanation.hidden or explanation.current_revision_id is None:
        return None
    run, created = score_run_create(explanation=explanation, scorers=list(PAGE_SCORERS), created_by=author)
    return run_enqueue(run=run) if created else None
