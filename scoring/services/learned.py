"""Training the learned scorer as a run on the queue (PipelineRun kind `training`): gather what it learns from
(generated planted-rule and word-class features; explanations that the game's verifiers or a stronger judge
scored well, with their feature's stored examples), train, evaluate on held-out families against the default
offline judge, save a new version, and register it only if it won. The work is scoring/core/learned*.py."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from features.models import PipelineRun
from features.services.runs import Resumption, run_create, run_fail, run_succeed, run_update
from scoring.core.errors import ScoringInputError
from scoring.core.learned import Featurizer, LearnedJudge, TrainingFeature, evaluate, train_head
from scoring.core.learned_data import FAMILIES, HELD_OUT, puzzles, training_features
from scoring.core.learned_store import register_if_better, save_version
from scoring.core.offline_judges import default_offline_judge
from scoring.models import ExplanationScore
from scoring.stored_examples import FeatureExamples

from .backends import learned_scorer_dir

TASK = "scoring.tasks.learned_train"
# Judges whose good scores are trusted as labels: people in Verify mode, and LLM simulators.
STRONG_JUDGE_PREFIXES = ("openai-compatible", "local-transformers")
MIN_TRUSTED_SCORE = 0.5


def learned_run_create(
    *,
    steps: int = 300,
    held_out: tuple[str, ...] = HELD_OUT,
    n_windows: int = 60,
    created_by: AbstractBaseUser | None = None,
    sync: bool = False,
) -> tuple[PipelineRun, bool]:
    unknown = [name for name in held_out if name not in FAMILIES]
    if unknown:
        raise ScoringInputError(f"Unknown family {unknown[0]!r} to hold out; choose from {', '.join(FAMILIES)}.")
    if len(set(held_out)) == len(FAMILIES) or not held_out:
        raise ScoringInputError("Hold out at least one family and train on at least one.")
    if steps < 1 or n_windows < 4:
        raise ScoringInputError("Train for at least one step on at least 4 windows per family.")
    params = {"steps": steps, "held_out": list(held_out), "n_windows": n_windows}
    return run_create(
        kind=PipelineRun.Kind.TRAINING, params=params, created_by=created_by, sync=sync, same_as=("steps",)
    )


def learned_run_resume(run: PipelineRun) -> Resumption:
    return Resumption(
        tasks=[(TASK, run.pk)],
        status=PipelineRun.Status.QUEUED,
        message="Resuming",
        summary=f"Run #{run.pk} trains the learned scorer again from the start.",
    )


def stored_training_features(*, min_score: float = MIN_TRUSTED_SCORE) -> list[TrainingFeature]:
    """Explanations whose current text verifiers or an LLM simulator scored at least `min_score`, each with
    its feature's stored examples (the activations it is taken to describe), weighted by that score."""
    trusted = Q(scorer="human") | Q(scorer="simulation", judge__startswith=STRONG_JUDGE_PREFIXES[0])
    for prefix in STRONG_JUDGE_PREFIXES[1:]:
        trusted |= Q(scorer="simulation", judge__startswith=prefix)
    scores = (
        ExplanationScore.objects.filter(trusted, value__gte=min_score, revision__isnull=False)
        .select_related("revision", "explanation__feature__source__model")
        .order_by("pk")
    )
    best: dict[tuple[int, str], tuple[float, object]] = {}
    for score in scores:
        key = (score.explanation.feature_id, score.revision.text)
        if key not in best or score.value > best[key][0]:
            best[key] = (score.value, score.explanation.feature)
    examples: dict[int, FeatureExamples] = {}
    features = []
    for (_, text), (value, feature) in best.items():
        source = feature.source
        records = examples.setdefault(source.pk, FeatureExamples(source)).feature_records(feature).records()
        if any(record.max_activation > 0 for record in records):
            features.append(
                TrainingFeature(name=str(feature), explanation=text, records=records, weight=value, origin="stored")
            )
    return features


def learned_run_step(*, run_id: int) -> PipelineRun:
    run = PipelineRun.objects.get(pk=run_id)
    params = run.params
    run_update(run=run, status=PipelineRun.Status.RUNNING, started_at=timezone.now(), message="Gathering training data")
    try:
        held_out = tuple(params["held_out"])
        generated = training_features([f for f in FAMILIES if f not in held_out], n_windows=params["n_windows"])
        stored = stored_training_features()
        run_update(run=run, progress=0.1, message=f"Training on {len(generated) + len(stored)} features")
        featurizer = Featurizer()
        head, loss = train_head(featurizer, generated + stored, steps=params["steps"])
        run_update(run=run, progress=0.6, message="Evaluating on held-out features")
        held = puzzles(held_out)
        baseline = default_offline_judge()
        learned_figures = evaluate(LearnedJudge(head=head, featurizer=featurizer), held)
        baseline_figures = evaluate(baseline, held)
        directory = learned_scorer_dir()
        metadata = {
            "trained_at": timezone.now().isoformat(),
            "run": run.pk,
            "steps": params["steps"],
            "loss": loss,
            "training": {"generated": len(generated), "stored": len(stored)},
            "held_out": list(held_out),
            "figures": learned_figures.to_json(),
            "baseline": {"judge": baseline.name, "figures": baseline_figures.to_json()},
        }
        version = save_version(directory, head, featurizer, metadata)
        registered = register_if_better(directory, version, learned=learned_figures, baseline=baseline_figures)
    except (ScoringInputError, OSError) as error:  # bad data, or the version could not be written
        run_fail(run=run, error=str(error))
        return run
    result = {**metadata, "version": version, "registered": registered}
    verdict = "registered as the learned judge" if registered else f"not registered: it does not beat {baseline.name}"
    run_succeed(
        run=run,
        message=(
            f"v{version}: true explanation strictly first on {learned_figures.strict_wins}/{learned_figures.puzzles} "
            f"held-out puzzles ({baseline.name}: {baseline_figures.strict_wins}); {verdict}"
        ),
        params={**params, "result": result},
    )
    return run
