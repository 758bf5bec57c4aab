"""Reads for the evaluation pages and the API: a source's quality figures, and every dictionary on a hook side
by side with its interpretability figures from the scoring pipeline."""

from dataclasses import dataclass, field

from django.urls import reverse

from explanations.models import Explanation
from features.models import LanguageModel, PipelineRun, Source
from scoring.models import ExplanationScore

from . import charts
from .core.frontier import MeanWithInterval, feature_sample, mean_with_interval
from .models import METRICS, SourceEvaluation

# How many features stand for a dictionary's interpretability, and which scores of their explanations.
SAMPLE_SIZE = 50
INTERPRETABILITY_SCORERS = ("detection", "fuzzing")
# The figures the source page lists, in this order (those a source lacks are left out).
SHOWN = (
    "l0",
    "explained_variance",
    "mse",
    "cosine",
    "shrinkage",
    "delta_loss",
    "loss_recovered",
    "kl_spliced",
    "ce_loss_clean",
    "ce_loss_spliced",
    "ce_loss_ablated",
    "dead_fraction",
    "dense_fraction",
)

KEY_FIGURES = ("l0", "explained_variance", "delta_loss", "dead_fraction")


@dataclass
class Figure:
    name: str
    label: str
    value: float
    meaning: str
    is_fraction: bool  # shown as a percentage
    digits: int  # decimals shown


@dataclass
class SourceQuality:
    metrics: dict
    evaluation: SourceEvaluation | None  # the evaluation run's figures, or None: the activation pass's
    run: PipelineRun | None
    figures: list[Figure] = field(default_factory=list)
    l0_bars: list = field(default_factory=list)
    density_bars: list = field(default_factory=list)

    @property
    def key_figures(self) -> list[Figure]:
        """The figures a reader sees first; the others are one click away."""
        return [figure for figure in self.figures if figure.name in KEY_FIGURES]

    @property
    def more_figures(self) -> list[Figure]:
        return [figure for figure in self.figures if figure.name not in KEY_FIGURES]

    @property
    def has_loss(self) -> bool:
        return "delta_loss" in self.metrics

    @property
    def loss_note(self) -> str:
        """What a table shows instead of the loss figures: they do not apply (no next-token head), or they
        were not measured (the activation pass's figures, or an evaluation without the loss)."""
        if self.has_loss:
            return ""
        return "does not apply" if self.metrics.get("loss_applies") is False else "not measured"

    def get(self, name: str) -> float | None:
        return self.metrics.get(name)


def source_quality(source: Source) -> SourceQuality | None:
    """The latest evaluation's figures; else those of the activation run's pass (no spliced loss, the
    reconstruction measured on its first windows); None when neither exists."""
    evaluation = source.evaluations.select_related("run").first()
    if evaluation is not None:
        metrics, run = evaluation.metrics, evaluation.run
    else:
        metrics = (source.config or {}).get("quality")
        if not metrics:
            return None
        run = PipelineRun.objects.filter(pk=metrics.get("run")).first()
    figures = [
        Figure(
            name=name,
            label=METRICS[name][0],
            value=metrics[name],
            meaning=METRICS[name][1],
            is_fraction=name in ("dead_fraction", "dense_fraction"),
            digits=2 if name == "l0" else 4,
        )
        for name in SHOWN
        if isinstance(metrics.get(name), int | float)
    ]
    return SourceQuality(
        metrics=metrics,
        evaluation=evaluation,
        run=run,
        figures=figures,
        l0_bars=charts.l0_bars(metrics.get("l0_histogram")),
        density_bars=charts.density_bars(metrics.get("log_density_histogram")),
    )


def dictionary_sources(model: LanguageModel, hook_name: str) -> list[Source]:
    """The model's dictionaries (SAEs and transcoders) that read `hook_name`."""
    return list(
        model.sources.select_related("model")
        .exclude(kind=Source.Kind.NEURONS)
        .filter(hook_name=hook_name)
        .order_by("slug")
    )


def compared_hooks(model: LanguageModel) -> list[str]:
    """The hooks of the model that have at least one dictionary, in layer order."""
    rows = (
        model.sources.exclude(kind=Source.Kind.NEURONS)
        .order_by("layer", "hook_name")
        .values_list("hook_name", flat=True)
    )
    return list(dict.fromkeys(rows))


@dataclass
class Interpretability:
    sample_size: int  # the fixed sample's size
    explained: int  # sampled features with a visible explanation
    scores: dict[str, MeanWithInterval | None]  # scorer -> mean over the sampled features' best explanations
    unscored: int  # sampled features whose best explanation lacks one of the scorers' scores


def sample_best_explanations(source: Source, *, sample_size: int = SAMPLE_SIZE) -> dict[int, int | None]:
    """For each feature index of the source's fixed random sample (seeded by its path, so the same every time),
    the id of its best visible explanation, or None where it has none."""
    sample = feature_sample(source.n_features, sample_size, seed=str(source))
    best: dict[int, int | None] = dict.fromkeys(sample)
    for explanation_id, index in (
        Explanation.objects.visible()
        .best_first()
        .filter(feature__source=source, feature__index__in=sample)
        .values_list("pk", "feature__index")
    ):
        if best[index] is None:
            best[index] = explanation_id
    return best


def interpretability(source: Source, *, sample_size: int = SAMPLE_SIZE) -> Interpretability:
    """Mean detection and fuzzing scores of the best visible explanation of each feature in the source's fixed
    random sample of features."""
    best = sample_best_explanations(source, sample_size=sample_size)
    explained = [pk for pk in best.values() if pk is not None]
    values: dict[str, list[float]] = {scorer: [] for scorer in INTERPRETABILITY_SCORERS}
    scored: dict[int, set[str]] = {}
    for explanation_id, scorer, value in (
        ExplanationScore.objects.filter(explanation_id__in=explained, scorer__in=INTERPRETABILITY_SCORERS)
        .latest_per_scorer()
        .values_list("explanation_id", "scorer", "value")
    ):
        values[scorer].append(value)
        scored.setdefault(explanation_id, set()).add(scorer)
    return Interpretability(
        sample_size=len(best),
        explained=len(explained),
        scores={scorer: mean_with_interval(values[scorer]) for scorer in INTERPRETABILITY_SCORERS},
        unscored=sum(1 for pk in explained if scored.get(pk, set()) != set(INTERPRETABILITY_SCORERS)),
    )


@dataclass
class ComparisonRow:
    source: Source
    quality: SourceQuality | None
    interpretability: Interpretability


@dataclass
class Comparison:
    model: LanguageModel
    hook_name: str
    rows: list[ComparisonRow]
    variance_chart: charts.FrontierChart | None
    loss_chart: charts.FrontierChart | None

    @property
    def loss_does_not_apply(self) -> bool:
        """Every measured dictionary here is on a model without a next-token head: no loss can be measured."""
        notes = [row.quality.loss_note for row in self.rows if row.quality is not None]
        return bool(notes) and all(note == "does not apply" for note in notes)


def hook_comparison(model: LanguageModel, hook_name: str) -> Comparison:
    rows = [
        ComparisonRow(source=source, quality=source_quality(source), interpretability=interpretability(source))
        for source in dictionary_sources(model, hook_name)
    ]

    def entries(metric: str) -> list[charts.ChartEntry]:
        return [
            charts.ChartEntry(
                key=str(row.source.pk),
                label=row.source.slug,
                url=row.source.get_absolute_url(),
                l0=row.quality.get("l0"),
                fidelity=row.quality.get(metric),
            )
            for row in rows
            if row.quality is not None
            and isinstance(row.quality.get("l0"), int | float)
            and isinstance(row.quality.get(metric), int | float)
        ]

    return Comparison(
        model=model,
        hook_name=hook_name,
        rows=rows,
        variance_chart=charts.frontier_chart(
            entries("explained_variance"), y_label="Explained variance (higher is better)", higher_is_better=True
        ),
        loss_chart=charts.frontier_chart(
            entries("delta_loss"), y_label="Delta loss (lower is better)", higher_is_better=False
        ),
    )


def compare_url(source: Source) -> str:
    return reverse("evaluations:compare", args=[source.model.slug, source.hook_name])
