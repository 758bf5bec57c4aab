"""Feature families: computing and storing the matching of two dictionaries (a write), and reading a feature's
counterparts and its family across widths (reads). The arithmetic is evaluations/core/matching.py."""

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.db.models import Q

from explanations.selectors import best_explanation_texts
from features.models import Feature, Source
from features.pipeline.errors import PipelineInputError

from .core import matching
from .models import DictionaryMatching, FeatureMatch

# The optimal matching holds an n_a x n_b cosine matrix and solves an assignment problem on it (cubic time):
# beyond about 4096 x 4096 features it takes more memory and minutes than a command should silently spend.
MAX_PAIRS = 4096 * 4096


class MatchingError(ValueError):
    """A matching that cannot be computed, with a reason a person can act on."""


def _decoder(source: Source) -> np.ndarray:
    from features.pipeline import cache

    if not source.dictionary_path:
        raise MatchingError(
            f"{source} is a layer's {source.get_kind_display()}, not a dictionary: it has no decoder to compare."
        )
    try:
        dictionary = cache.dictionaries.get(source.dictionary_path)
    except PipelineInputError as error:
        raise MatchingError(f"{source}'s dictionary could not be loaded: {error}") from error
    return dictionary.decoder.float().cpu().numpy()


def _relation(source_a: Source, source_b: Source) -> str:
    if source_a.model_id != source_b.model_id:
        return DictionaryMatching.Relation.MODEL
    if source_a.hook_name == source_b.hook_name:
        return DictionaryMatching.Relation.WIDTH
    return DictionaryMatching.Relation.LAYER


@transaction.atomic
def dictionary_matching_compute(
    *, source_a: Source, source_b: Source, split_threshold: float = matching.DEFAULT_SPLIT_THRESHOLD
) -> DictionaryMatching:
    """Match the features of two dictionaries that write into spaces of one width (the residual stream of one
    model at two widths or two layers, or of a base model and its fine-tune) and store the result, replacing an
    earlier one of the same pair. The narrower dictionary becomes A, so splits read from A into B."""
    if source_a.pk == source_b.pk:
        raise MatchingError("Give two different sources: a dictionary matches itself trivially.")
    if not 0 <= split_threshold <= 1:
        raise MatchingError("The split threshold is a cosine between 0 and 1.")
    if source_b.n_features < source_a.n_features:
        source_a, source_b = source_b, source_a
    if source_a.n_features * source_b.n_features > MAX_PAIRS:
        raise MatchingError(
            f"{source_a} x {source_b} is {source_a.n_features:,} x {source_b.n_features:,} features, more than "
            f"the {MAX_PAIRS:,} pairs an exact matching is computed for here."
        )
    decoder_a, decoder_b = _decoder(source_a), _decoder(source_b)
    try:
        cosines = matching.decoder_cosines(decoder_a, decoder_b)
    except ValueError as error:
        raise MatchingError(f"{source_a} and {source_b}: {error}") from error
    one_to_one = matching.optimal_matching(cosines)
    splits = matching.splits(cosines, threshold=split_threshold)

    DictionaryMatching.objects.filter(
        Q(source_a=source_a, source_b=source_b) | Q(source_a=source_b, source_b=source_a)
    ).delete()
    result = DictionaryMatching.objects.create(
        source_a=source_a,
        source_b=source_b,
        relation=_relation(source_a, source_b),
        split_threshold=split_threshold,
        n_one_to_one=len(one_to_one),
        mean_one_to_one_cosine=float(np.mean([m.cosine for m in one_to_one])) if one_to_one else 0.0,
        n_splits=len(splits),
    )
    FeatureMatch.objects.bulk_create(
        [
            FeatureMatch(matching=result, kind=kind, index_a=m.index_a, index_b=m.index_b, cosine=m.cosine)
            for kind, matches in ((FeatureMatch.Kind.ONE_TO_ONE, one_to_one), (FeatureMatch.Kind.SPLIT, splits))
            for m in matches
        ],
        batch_size=2000,
    )
    return result


@dataclass
class Counterpart:
    """A feature of another dictionary that matches this one, as the feature page lists it."""

    source: Source
    index: int
    cosine: float
    relation: str  # "one-to-one", "splits into" (this feature is the parent), "split from" (it is a child)
    explanation: str | None
    has_page: bool  # whether its dashboards were computed (a Feature row exists)


def _with_explanations(counterparts: list[Counterpart]) -> list[Counterpart]:
    """Fill in each counterpart's best explanation and whether it has a page: a query or two per model."""
    by_model: dict[int, list[Counterpart]] = defaultdict(list)
    for counterpart in counterparts:
        by_model[counterpart.source.model_id].append(counterpart)
    for entries in by_model.values():
        model = entries[0].source.model
        addresses = {(entry.source.slug, entry.index) for entry in entries}
        texts = best_explanation_texts(model=model, addresses=addresses)
        existing = set(
            Feature.objects.filter(
                source__model=model,
                source__slug__in={slug for slug, _ in addresses},
                index__in={index for _, index in addresses},
            ).values_list("source__slug", "index")
        )
        for entry in entries:
            entry.explanation = texts.get((entry.source.slug, entry.index))
            entry.has_page = (entry.source.slug, entry.index) in existing
    return counterparts


def feature_counterparts(source: Source, index: int, *, limit: int = 50) -> list[Counterpart]:
    """Every stored match of feature `index` of `source`, highest cosine first, with explanations."""
    rows = (
        FeatureMatch.objects.filter(
            Q(matching__source_a=source, index_a=index) | Q(matching__source_b=source, index_b=index)
        )
        .select_related("matching__source_a__model", "matching__source_b__model")
        .order_by("-cosine")[:limit]
    )
    by_feature: dict[tuple[int, int], Counterpart] = {}  # one entry per counterpart, its relations joined
    for row in rows:
        is_a = row.matching.source_a_id == source.pk and row.index_a == index
        other, other_index = (row.matching.source_b, row.index_b) if is_a else (row.matching.source_a, row.index_a)
        if row.kind == FeatureMatch.Kind.ONE_TO_ONE:
            relation = "one-to-one"
        else:
            relation = "splits into" if is_a else "split from"
        known = by_feature.get((other.pk, other_index))
        if known is None:
            by_feature[other.pk, other_index] = Counterpart(other, other_index, row.cosine, relation, None, False)
        else:
            known.relation = f"{known.relation}, {relation}"
    counterparts = list(by_feature.values())
    return _with_explanations(counterparts)


@dataclass
class FamilyNode:
    """A feature in a family tree across widths, with the features it splits into in the next wider dictionary."""

    source: Source
    index: int
    cosine: float | None  # with its parent in the next narrower dictionary; None for the narrowest
    explanation: str | None = None
    has_page: bool = False
    children: list["FamilyNode"] = field(default_factory=list)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Family:
    ancestors: list[FamilyNode]  # narrowest first, ending with the feature's parent
    root: FamilyNode  # the feature itself, with its descendants in wider dictionaries
    widths: list[Source]  # the dictionaries of the family's hook that were matched, narrowest first


MAX_FAMILY_NODES = 200


def feature_family(source: Source, index: int) -> Family:
    """How feature `index` of `source` splits as width grows: its parents in narrower dictionaries on the same
    hook (following each one's split upwards) and its descendants in wider ones, from the stored width
    matchings. Each step goes to the next wider dictionary matched with it (the narrowest such), so a family
    reads level by level."""
    matchings = list(
        DictionaryMatching.objects.filter(
            relation=DictionaryMatching.Relation.WIDTH,
            source_a__model=source.model,
            source_a__hook_name=source.hook_name,
        ).select_related("source_a__model", "source_b__model")
    )
    wider_of: dict[int, DictionaryMatching] = {}  # a source -> its matching with the next wider one
    narrower_of: dict[int, DictionaryMatching] = {}
    for each in sorted(matchings, key=lambda m: m.source_b.n_features):
        wider_of.setdefault(each.source_a_id, each)
    for each in sorted(matchings, key=lambda m: -m.source_a.n_features):
        narrower_of.setdefault(each.source_b_id, each)

    ancestors: list[FamilyNode] = []
    cosines_to_parent: list[float] = []
    current_source, current_index = source, index
    seen = {source.pk}
    while current_source.pk in narrower_of:
        link = narrower_of[current_source.pk]
        row = FeatureMatch.objects.filter(matching=link, kind=FeatureMatch.Kind.SPLIT, index_b=current_index).first()
        if row is None or link.source_a_id in seen:
            break
        seen.add(link.source_a_id)
        ancestors.insert(0, FamilyNode(link.source_a, row.index_a, None))
        cosines_to_parent.insert(0, row.cosine)
        current_source, current_index = link.source_a, row.index_a
    # cosines_to_parent[k] is the cosine of ancestors[k] with the next feature down the chain (the feature itself
    # for the last): each node shows the cosine with its parent, so it moves one place down.
    for node, cosine in zip(ancestors[1:], cosines_to_parent, strict=False):
        node.cosine = cosine

    root = FamilyNode(source, index, cosines_to_parent[-1] if cosines_to_parent else None)
    frontier, count = [root], 1
    while frontier and count < MAX_FAMILY_NODES:
        next_frontier = []
        for node in frontier:
            link = wider_of.get(node.source.pk)
            if link is None or link.source_b_id in seen:
                continue
            rows = FeatureMatch.objects.filter(matching=link, kind=FeatureMatch.Kind.SPLIT, index_a=node.index)
            for row in rows.order_by("-cosine")[: MAX_FAMILY_NODES - count]:
                child = FamilyNode(link.source_b, row.index_b, row.cosine)
                node.children.append(child)
                next_frontier.append(child)
                count += 1
        seen.update(node.source.pk for node in next_frontier)
        frontier = next_frontier

    nodes = [*ancestors, *root.walk()]
    counterparts = [Counterpart(n.source, n.index, 0.0, "", None, False) for n in nodes]
    for node, filled in zip(nodes, _with_explanations(counterparts), strict=True):
        node.explanation, node.has_page = filled.explanation, filled.has_page
    widths = sorted({m.source_a for m in matchings} | {m.source_b for m in matchings}, key=lambda s: s.n_features)
    return Family(ancestors=ancestors, root=root, widths=widths)
