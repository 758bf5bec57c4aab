"""Import a graph written by circuit-tracer (its JSON, the one Neuronpedia renders) and export ours in the same
schema.

An import is checked strictly (circuits/core/graph_schema.py), its feature nodes are mapped to our sources
where the file says which dictionaries it used, and it is written in one transaction: the graph, its feature
index (GraphNode) and its first revision, or nothing.

Mapping a node to one of our features, first match wins:
1. the node carries our extra keys `source` (a source's slug on the model) and `index` (as we export);
2. `metadata.transcoder_list[layer]` is the slug of a source of the model, or the last part of its
   dictionary's path (circuit-tracer lists one transcoder per layer);
3. `metadata.scan` is the set name of the model's sources (`mlp`, `res-sae`): the source of that set at the
   node's layer.
The feature's index is the middle part of circuit-tracer's node id, "{layer}_{feat_idx}_{pos}".
"""

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from explanations.services.permissions import ensure_can_write
from features.models import LanguageModel, Source, slug_validator

from ..core.graph_schema import (
    GraphLimits,
    GraphSchemaError,
    feature_index_from_node_id,
    graph_validate,
    layer_number,
)
from ..models import RESERVED_GRAPH_SLUGS, Graph

MAX_IMPORT_BYTES = 32 * 1024 * 1024
LIMITS = GraphLimits()
# Node kinds that stand for a feature (or neuron) of a source.
FEATURE_NODE_TYPES = {"cross layer transcoder", "mlp neuron", "feature target"}


@dataclass
class SourceMapping:
    """Which source each layer's feature nodes belong to, and why (said on the graph's page)."""

    by_layer: dict[int, Source]
    explanation: str


def graph_parse(raw: bytes | str) -> dict:
    """The JSON of an uploaded file, within the size limit, validated; GraphSchemaError otherwise."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_IMPORT_BYTES:
        raise GraphSchemaError([f"The file is {size / 2**20:.1f} MiB; the limit is {MAX_IMPORT_BYTES // 2**20} MiB."])
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GraphSchemaError([f"The file is not valid JSON: {error}."]) from error
    return graph_validate(data, LIMITS)


def source_mapping(model: LanguageModel, metadata: dict) -> SourceMapping:
    sources = list(model.sources.all())
    by_layer: dict[int, Source] = {}
    transcoders = metadata.get("transcoder_list") or []
    for layer, name in enumerate(transcoders):
        for source in sources:
            dictionary_name = PurePosixPath(source.dictionary_path).name if source.dictionary_path else None
            if name in (source.slug, dictionary_name):
                by_layer[layer] = source
    if by_layer:
        return SourceMapping(by_layer, "its transcoder_list names sources of this model")
    scan = metadata.get("scan") or ""
    by_set = {source.layer: source for source in sources if source.set_name == scan}
    if by_set:
        return SourceMapping(by_set, f"its scan '{scan}' is the set name of this model's sources")
    named = f"scan '{scan}'" if scan else "no scan"
    if transcoders:
        named += f" and transcoders {', '.join(transcoders[:3])}{'…' if len(transcoders) > 3 else ''}"
    return SourceMapping({}, f"its metadata names {named}, which match no source of {model.slug}")


def _node_feature_keys(model: LanguageModel, data: dict) -> tuple[dict[str, tuple[Source, int]], str]:
    """node_id -> (source, index) for the nodes we can map (a node naming our `source` and `index`, whatever its
    type, as a feature target is a logit-type node; else a feature node by the metadata's sources). An index
    past its source's end is refused (GraphSchemaError); a source this model lacks leaves the node unmapped."""
    mapping = source_mapping(model, data["metadata"])
    sources_by_slug = {source.slug: source for source in model.sources.all()}
    keys: dict[str, tuple[Source, int]] = {}
    problems = []
    unmapped = 0
    for node in data["nodes"]:
        if "source" in node and "index" in node:
            source, index = sources_by_slug.get(node["source"]), node["index"]
        elif node["feature_type"] in FEATURE_NODE_TYPES:
            layer = layer_number(node["layer"])
            source = mapping.by_layer.get(layer) if layer is not None else None
            index = feature_index_from_node_id(node["node_id"])
        else:
            continue
        if source is None or index is None:
            unmapped += 1
            continue
        if index >= source.n_features:
            problems.append(
                f"node {node['node_id']!r}: feature {index} is past the {source.n_features} features of {source.slug}."
            )
            continue
        keys[node["node_id"]] = (source, index)
    if problems:
        raise GraphSchemaError(problems)
    explanation = mapping.explanation if mapping.by_layer or not keys else "its nodes name sources of this model"
    if unmapped and keys:
        explanation += f"; {unmapped} feature nodes are in no known source"
    return keys, explanation


def _unique_slug(model: LanguageModel, wanted: str) -> str:
    base = slugify(wanted)[:56].strip("-_.") or "graph"
    if base in RESERVED_GRAPH_SLUGS:
        base = f"{base}-graph"
    slug, n = base, 2
    while Graph.objects.filter(model=model, slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def graph_import(
    *,
    model: LanguageModel,
    raw: bytes | str,
    author=None,
    slug: str = "",
    title: str = "",
    description: str = "",
    require_author: bool = True,
) -> Graph:
    """Import a circuit-tracer JSON file. GraphSchemaError (with every problem) or ValidationError for a bad
    file or slug; nothing is written unless all of it is."""
    if require_author:
        ensure_can_write(author)
    data = graph_parse(raw)
    node_keys, mapping_note = _node_feature_keys(model, data)
    metadata = data["metadata"]
    if slug:
        slug_validator(slug)
        if slug in RESERVED_GRAPH_SLUGS:
            raise ValidationError({"slug": f"'{slug}' is the name of a page; choose another."})
        if Graph.objects.filter(model=model, slug=slug).exists():
            raise ValidationError({"slug": f"{model.slug} already has a graph '{slug}'."})
    else:
        slug = _unique_slug(model, metadata.get("slug") or "graph")
    for node in data["nodes"]:
        if node["node_id"] in node_keys:
            source, index = node_keys[node["node_id"]]
            node["source"], node["index"] = source.slug, index
        elif "index" in node:
            # A source this model lacks: the node shows without a feature link (said on the page).
            node.pop("source", None)
            node.pop("index", None)
    metadata["feature_links"] = mapping_note if node_keys else ""
    metadata["feature_links_missing"] = "" if node_keys else mapping_note
    prompt = metadata.get("prompt") or "".join(metadata["prompt_tokens"])
    target = next((n.get("clerp", "") for n in data["nodes"] if n.get("is_target_logit")), "")
    try:
        with transaction.atomic():
            graph = Graph.objects.create(
                model=model,
                slug=slug,
                title=(title or metadata.get("slug") or slug)[:200],
                description=description,
                prompt=prompt,
                target=target[:300],
                origin=Graph.Origin.IMPORTED,
                data=data,
                params={"imported_metadata_slug": metadata.get("slug", "")},
                author=author if author is not None and author.is_authenticated else None,
            )
            # Its GraphNode rows and first revision come with it (Graph's post_save, circuits/models.py).
    except IntegrityError as error:
        raise ValidationError({"slug": f"{model.slug} already has a graph '{slug}'."}) from error
    return graph


def graph_export(graph: Graph) -> dict:
    """The graph in circuit-tracer's schema (what Neuronpedia's and circuit-tracer's viewers read), with our extra
    keys (metadata: the model, title, scores; nodes: `source` and `index`), which those viewers ignore."""
    data = graph.data
    metadata = {
        **data.get("metadata", {}),
        "slug": graph.slug,
        "schema_version": 1,
        "model": graph.model.slug,
        "title": graph.title,
        "description": graph.description,
        "target": graph.target,
        "replacement_score": graph.replacement_score,
        "completeness_score": graph.completeness_score,
    }
    metadata.setdefault("scan", "")
    metadata.setdefault("transcoder_list", [])
    metadata.setdefault("prompt", graph.prompt)
    return {
        "metadata": metadata,
        "qParams": data.get(
            "qParams", {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""}
        ),
        "nodes": data.get("nodes", []),
        "links": data.get("links", []),
    }
