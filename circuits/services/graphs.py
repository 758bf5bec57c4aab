"""Computing attribution graphs and storing them as `Graph` pages: a PipelineRun of kind ATTRIBUTION, one django-q2
task (circuits.tasks.compute_graph) that calls graph_compute. The mathematics is circuits/core/attribution.py.

What a graph is computed from, in the run's params: the model, the prompt, the target ("" for the default, a token
for a causal LM's logit, or SOURCE:INDEX@POSITION for a feature), the sources standing for each layer's MLP
(transcoder sources, or "N-mlp" for layer N's neurons; by default each layer's transcoder if one is registered,
else its neurons) and any residual-stream SAEs spliced in between them (an SAE source among the sources: its
features become nodes in the middle of the graph), the node budget and the pruning thresholds.
"""

from dataclasses import dataclass

import torch
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.rate_limits import rate_limit_consume
from circuits.core.attribution import (
    POINTS_AFTER_MLP,
    POINTS_BEFORE_MLP,
    AttributionRun,
    FeatureTarget,
    LayerReplacement,
    LogitTarget,
)
from circuits.core.attribution_graph import graph_json
from circuits.core.residual_splices import RESIDUAL_POINTS, SaeSplice, check_splices
from circuits.models import RESERVED_GRAPH_SLUGS, Graph
from explanations.services.permissions import ensure_can_write
from features.inference import InferenceInputError, load_model, model_lock
from features.models import LanguageModel, PipelineRun, Source, slug_validator
from features.pipeline import cache
from features.pipeline.corpus import token_display_strings
from features.pipeline.devices import device_name
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import capture_activations, parse_hook_name
from features.pipeline.loading import LoadedModel
from features.services.runs import Resumption, run_create, run_enqueue, run_fail, run_succeed, run_update

# Limits on CPU-sized work: a graph's cost grows with tokens x active nodes (its columns) x budget (its rows).
MAX_PROMPT_CHARS = 1000
MAX_GRAPH_TOKENS = 64
MAX_FEATURE_NODES = 5000
DEFAULT_FEATURE_NODES = 500
# Pruning's defaults, circuit-tracer's: the shares of influence on the target that the kept nodes and links hold.
DEFAULT_NODE_THRESHOLD = 0.8
DEFAULT_EDGE_THRESHOLD = 0.98
# The edge matrix is (budget + 1) x (active nodes + errors + tokens) float32s: at most about 1.6 GB.
MAX_EDGE_ENTRIES = 400_000_000


class GraphInputError(ValueError):
    """A graph request that cannot be computed; its message says what to change."""


@dataclass
class GraphPlan:
    """What a request resolves to once the model is loaded: the framed prompt, the layers' replacements, the
    target, and the words for each."""

    loaded: LoadedModel
    input_ids: list[int]
    replacements: list[LayerReplacement]
    target: LogitTarget | FeatureTarget
    target_label: str
    target_spec: str  # the target as the command takes it, so a rerun asks for the same
    splices: list[SaeSplice]

    @property
    def source_slugs(self) -> list[str]:
        return [r.source_slug for r in self.replacements] + [s.source_slug for s in self.splices]


def _check_numbers(max_nodes: int, node_threshold: float, edge_threshold: float) -> None:
    if not 1 <= max_nodes <= MAX_FEATURE_NODES:
        raise GraphInputError(f"The node budget must be between 1 and {MAX_FEATURE_NODES}, not {max_nodes}.")
    for name, value in (("node threshold", node_threshold), ("edge threshold", edge_threshold)):
        if not 0 < value <= 1:
            raise GraphInputError(f"The {name} is a share of influence, between 0 and 1 (not {value}).")


def _check_slug(model: LanguageModel, slug: str) -> None:
    if not slug:
        return
    try:
        slug_validator(slug)
    except ValidationError as error:
        raise GraphInputError(f"The slug {slug!r} cannot be an address: {' '.join(error.messages)}") from None
    if len(slug) > 64:
        raise GraphInputError(f"The slug is {len(slug)} characters long; the limit is 64.")
    if slug in RESERVED_GRAPH_SLUGS:
        raise GraphInputError(f"{slug!r} is the name of a page; choose another slug.")
    if Graph.objects.filter(model=model, slug=slug).exists():
        raise GraphInputError(f"{model.slug} already has a graph {slug!r}; choose another slug.")


def graph_source_choices(model: LanguageModel) -> list[tuple[str, str]]:
    """What may be named among a graph's sources, as (slug, words), by layer: each layer's MLP neurons (`N-mlp`,
    registered as a source or not: without one its nodes link to no feature page), its transcoders, and the SAEs
    on its residual stream (spliced into the middle of the graph). Read from the rows alone (no model is loaded);
    the service still checks what it is given (a splice past the target, a dictionary that normalises)."""
    by_layer: dict[int, list[tuple[str, str]]] = {layer: [] for layer in range(model.n_layers)}
    registered_neurons: set[int] = set()
    for source in model.sources.order_by("layer", "slug"):
        if source.kind == Source.Kind.NEURONS:
            registered_neurons.add(source.layer)
            words = f"MLP neurons of layer {source.layer}"
        elif source.kind == Source.Kind.TRANSCODER and source.dictionary_path:
            words = f"transcoder for layer {source.layer}'s MLP"
        elif source.kind == Source.Kind.SAE and source.dictionary_path:
            if source.hook_name.rsplit(".", 1)[-1] not in RESIDUAL_POINTS:
                continue  # an SAE elsewhere (an MLP's or attention's output) can be a target, not a node
            words = f"residual SAE at {source.hook_name}, spliced mid-graph"
        else:
            continue
        by_layer.setdefault(source.layer, []).append((source.slug, f"{source.slug}: {words}"))
    for layer in by_layer:
        if layer < model.n_layers and layer not in registered_neurons:
            words = f"MLP neurons of layer {layer} (not computed as a source: no feature pages)"
            by_layer[layer].insert(0, (f"{layer}-mlp", f"{layer}-mlp: {words}"))
    return [choice for layer in sorted(by_layer) for choice in by_layer[layer]]


def _check_prompt(prompt: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise GraphInputError("Enter a prompt: it is empty.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise GraphInputError(f"The prompt is {len(prompt):,} characters long; the limit is {MAX_PROMPT_CHARS:,}.")
    return prompt


def _framed_ids(loaded: LoadedModel, prompt: str) -> list[int]:
    """The prompt as the model reads it, with a special token first: as in circuit-tracer, position 0 has no nodes
    (it is where BOS or [CLS] sits; a model's first position behaves unlike the rest)."""
    tokenizer = loaded.tokenizer
    ids = list(tokenizer(prompt, verbose=False)["input_ids"])
    special = set(tokenizer.all_special_ids)
    if not ids or ids[0] not in special:
        first = next(
            (i for i in (tokenizer.bos_token_id, tokenizer.cls_token_id, tokenizer.eos_token_id) if i is not None), None
        )
        if first is None:
            raise GraphInputError("The tokenizer has no BOS, CLS or EOS token to put before the prompt.")
        ids = [first, *ids]
    content = [i for i in ids if i not in special]
    if not content:
        raise GraphInputError("The prompt gives no tokens: it holds nothing the tokenizer can read.")
    if len(ids) > MAX_GRAPH_TOKENS:
        raise GraphInputError(
            f"The prompt is {len(ids)} tokens long with its special tokens; graphs take at most {MAX_GRAPH_TOKENS}."
        )
    return ids


def _dictionary(loaded: LoadedModel, source: Source):
    try:
        return cache.dictionaries.get(source.dictionary_path, device=device_name(loaded.device))
    except PipelineInputError as error:
        raise GraphInputError(f"The source {source.slug} cannot be loaded: {error}") from error


def _target_layer_limit(loaded: LoadedModel, hook_name: str) -> int:
    hook = parse_hook_name(hook_name, loaded)
    if hook.point in POINTS_BEFORE_MLP:
        return hook.layer
    if hook.point in POINTS_AFTER_MLP:
        return hook.layer + 1
    return -1


def _resolve_target(model: LanguageModel, loaded: LoadedModel, ids: list[int], spec: str):
    """(target, label, spec) from "", a token, or SOURCE:INDEX@POSITION."""
    special = set(loaded.tokenizer.all_special_ids)
    causal = loaded.unembedding() is not None
    spec = spec.strip()
    if ":" in spec and "@" in spec:
        slug, _, rest = spec.partition(":")
        index_text, _, position_text = rest.partition("@")
        source = Source.objects.filter(model=model, slug=slug).exclude(dictionary_path="").first()
        if source is None:
            raise GraphInputError(f"{model.slug} has no dictionary source {slug!r} to take a target feature from.")
        try:
            index, position = int(index_text), int(position_text)
        except ValueError:
            raise GraphInputError(
                f"A feature target is SOURCE:INDEX@POSITION, e.g. 3-res-sae:17@5 (got {spec!r})."
            ) from None
        if position < 0:
            position += len(ids)
        dictionary = _dictionary(loaded, source)
        if _target_layer_limit(loaded, dictionary.hook_name) < 0:
            raise GraphInputError(f"{source.slug} reads {dictionary.hook_name}, inside an MLP the graph replaces.")
        target = FeatureTarget(dictionary=dictionary, index=index, position=position, source_slug=source.slug)
        return target, f"{source.slug}:{index} at position {position}", f"{source.slug}:{index}@{position}"
    if spec.startswith("#") and spec[1:].isdigit():  # a token by its id, as a stored graph records its target
        if not causal:
            raise GraphInputError(f"{model.slug} has no language-model head: give a feature, SOURCE:INDEX@POSITION.")
        token = int(spec[1:])
        if token >= loaded.vocab_size:
            raise GraphInputError(f"Token id {token} is outside the vocabulary (0 to {loaded.vocab_size - 1}).")
        text = token_display_strings(loaded.tokenizer, [token])[0]
        return LogitTarget(token, text), f"the logit of {text!r} after the prompt", spec
    if spec:
        if not causal:
            raise GraphInputError(f"{model.slug} has no language-model head: give a feature, SOURCE:INDEX@POSITION.")
        token_ids = loaded.tokenizer(spec, add_special_tokens=False)["input_ids"]
        if len(token_ids) != 1:
            raise GraphInputError(f"The target {spec!r} is {len(token_ids)} tokens; give one token.")
        token = token_ids[0]
        return LogitTarget(token, spec), f"the logit of {spec!r} after the prompt", f"#{token}"
    if causal:
        with model_lock(loaded.path), torch.no_grad():
            logits = loaded.model(input_ids=torch.tensor([ids], device=loaded.device)).logits[0, -1]
        token = int(logits.argmax())
        text = token_display_strings(loaded.tokenizer, [token])[0]
        return LogitTarget(token, text), f"the top next token {text!r}", f"#{token}"
    # an encoder: the most active feature of its deepest dictionary at the last content token
    sources = [s for s in model.sources.exclude(dictionary_path="").order_by("-layer", "slug")]
    for source in sources:
        dictionary = _dictionary(loaded, source)
        if _target_layer_limit(loaded, dictionary.hook_name) < 0:
            continue
        position = max(p for p, i in enumerate(ids) if i not in special)
        with model_lock(loaded.path):
            captured = capture_activations(loaded, [parse_hook_name(dictionary.hook_name, loaded)], torch.tensor([ids]))
        acts = dictionary.encode(captured[dictionary.hook_name][0, position]).float()
        index = int(acts.argmax())
        if acts[index] <= 0:
            raise GraphInputError(f"No feature of {source.slug} fires on the last token; name a target feature.")
        target = FeatureTarget(dictionary=dictionary, index=index, position=position, source_slug=source.slug)
        return target, f"{source.slug}:{index} at position {position}", f"{source.slug}:{index}@{position}"
    raise GraphInputError(
        f"{model.slug} is an encoder without a dictionary a graph can end at: register an SAE on its residual "
        "stream and name a feature, SOURCE:INDEX@POSITION."
    )


def _replacements(
    model: LanguageModel, loaded: LoadedModel, n_layers: int, slugs: list[str]
) -> tuple[list[LayerReplacement], list[SaeSplice]]:
    """Each layer's replacement (the named transcoder or neurons, else the default) and the named SAEs to splice
    into the residual stream (the core checks their hooks)."""
    chosen: dict[int, LayerReplacement] = {}
    splices: list[SaeSplice] = []
    for slug in slugs:
        source = Source.objects.filter(model=model, slug=slug).first()
        if source is None:
            layer_text = slug.removesuffix("-mlp")
            if slug.endswith("-mlp") and layer_text.isdigit():  # a layer's neurons, registered as a source or not
                if int(layer_text) >= loaded.n_layers:
                    raise GraphInputError(
                        f"{model.slug} has no layer {layer_text}: its layers are 0 to {loaded.n_layers - 1}."
                    )
                if int(layer_text) in chosen:
                    raise GraphInputError(f"Two sources for layer {layer_text}: choose one per layer.")
                chosen[int(layer_text)] = LayerReplacement(int(layer_text), slug)
                continue
            raise GraphInputError(f"{model.slug} has no source {slug!r}.")
        dictionary = _dictionary(loaded, source) if source.dictionary_path else None
        if dictionary is not None and not dictionary.is_transcoder:  # an SAE: spliced where it reads
            splices.append(SaeSplice(source.slug, dictionary))
            continue
        if source.layer in chosen:
            raise GraphInputError(f"Two sources for layer {source.layer}: choose one per layer.")
        if dictionary is not None:
            chosen[source.layer] = LayerReplacement(source.layer, source.slug, dictionary)
        else:
            chosen[source.layer] = LayerReplacement(source.layer, source.slug)
    for layer in range(n_layers):
        if layer in chosen:
            continue
        transcoder = model.sources.filter(layer=layer, kind=Source.Kind.TRANSCODER).exclude(dictionary_path="")
        transcoder = transcoder.order_by("slug").first()
        chosen[layer] = (
            LayerReplacement(layer, transcoder.slug, _dictionary(loaded, transcoder))
            if transcoder
            else LayerReplacement(layer, f"{layer}-mlp")
        )
    return [chosen[layer] for layer in range(n_layers)], splices


def graph_plan(*, model: LanguageModel, prompt: str, target: str = "", sources: list[str] = ()) -> GraphPlan:
    """Load the model and resolve a request (PipelineInputError's words become GraphInputError's)."""
    _check_prompt(prompt)
    try:
        loaded = load_model(model)
    except InferenceInputError as error:
        raise GraphInputError(str(error)) from error
    ids = _framed_ids(loaded, prompt)
    try:
        resolved, label, spec = _resolve_target(model, loaded, ids, target)
        n_layers = (
            _target_layer_limit(loaded, resolved.dictionary.hook_name)
            if isinstance(resolved, FeatureTarget)
            else loaded.n_layers
        )
        replacements, splices = _replacements(model, loaded, n_layers, list(sources))
        feature_target = isinstance(resolved, FeatureTarget)
        splices = check_splices(  # refused here, before a run is queued
            loaded,
            splices,
            target_hook=resolved.dictionary.hook_name if feature_target else "",
            target_slug=resolved.source_slug if feature_target else "",
        )
    except PipelineInputError as error:
        raise GraphInputError(str(error)) from error
    return GraphPlan(loaded, ids, replacements, resolved, label, spec, splices)


def graph_run_create(
    *,
    model: LanguageModel,
    prompt: str,
    target: str = "",
    sources: list[str] = (),
    max_nodes: int = DEFAULT_FEATURE_NODES,
    node_threshold: float = DEFAULT_NODE_THRESHOLD,
    edge_threshold: float = DEFAULT_EDGE_THRESHOLD,
    slug: str = "",
    title: str = "",
    created_by: AbstractBaseUser | None = None,
    sync: bool = False,
) -> PipelineRun:
    """Check a request (tokens, target, sources, limits) and record a queued ATTRIBUTION run for it."""
    _check_numbers(max_nodes, node_threshold, edge_threshold)
    slug = slug or ""
    _check_slug(model, slug)
    if len(title) > 200:
        raise GraphInputError(f"The title is {len(title)} characters long; the limit is 200.")
    plan = graph_plan(model=model, prompt=prompt, target=target, sources=sources)
    params = {
        "prompt": prompt,
        "target": target,  # as asked: a default target is resolved again, the same way, by the task
        "sources": plan.source_slugs,
        "max_nodes": max_nodes,
        "node_threshold": node_threshold,
        "edge_threshold": edge_threshold,
        "slug": slug,
        "title": title,
    }
    run, _ = run_create(kind=PipelineRun.Kind.ATTRIBUTION, params=params, model=model, created_by=created_by, sync=sync)
    return run


def graph_run_start(*, model: LanguageModel, user: AbstractBaseUser, **request) -> PipelineRun:
    """A graph asked for by a person (the page, the API): checked, charged to their "run" rate limit (the one
    activation runs started from the web count against), and queued. Charged only once the request is known to
    be good, as the activation run's page charges only a valid form, so a typo costs no run; over the limit, the
    run just recorded is rolled back. PermissionDenied, GraphInputError or RateLimited: nothing recorded."""
    ensure_can_write(user)
    with transaction.atomic():
        run = graph_run_create(model=model, created_by=user, **request)
        rate_limit_consume(action="run", key=str(user.pk))
    return run_enqueue(run=run)


def _edge_check(n_columns: int, budget: int) -> None:
    if (budget + 1) * (n_columns + 1) > MAX_EDGE_ENTRIES:
        raise GraphInputError(
            f"The graph would have {n_columns:,} source nodes and {budget:,} computed rows, more than this server "
            f"computes ({MAX_EDGE_ENTRIES:,} edges): shorten the prompt, lower the node budget, or use transcoders "
            "instead of MLP neurons."
        )


def _default_slug(model: LanguageModel, prompt: str, run: PipelineRun) -> str:
    base = slugify(prompt)[:40].strip("-") or "graph"
    return f"{base}-{run.pk}"


def graph_compute(*, run_id: int) -> Graph | None:
    """The task: compute a run's graph and store it (one transaction: no half-written graph), or fail the run with
    the reason."""
    run = PipelineRun.objects.select_related("model").get(pk=run_id)
    if run.is_finished:
        return run.graphs.first()
    params = run.params
    run_update(
        run=run,
        status=PipelineRun.Status.RUNNING,
        started_at=timezone.now(),
        message="Loading the model and sources",
        progress=0.0,
    )
    try:
        plan = graph_plan(model=run.model, prompt=params["prompt"], target=params["target"], sources=params["sources"])
        with model_lock(plan.loaded.path):
            attribution = AttributionRun(
                plan.loaded, plan.input_ids, plan.replacements, plan.target, splices=plan.splices
            )
            budget = min(params["max_nodes"], len(attribution.features))
            _edge_check(attribution.n_columns, budget)
            run_update(run=run, message=f"{len(attribution.features):,} active nodes; computing edges")
            result = attribution.compute(
                max_feature_nodes=params["max_nodes"],
                progress=lambda share, words: run_update(run=run, progress=0.95 * share, message=words),
            )
        slug = params.get("slug") or _default_slug(run.model, params["prompt"], run)
        tokens = token_display_strings(plan.loaded.tokenizer, plan.input_ids)
        data, (replacement, completeness) = graph_json(
            result,
            slug=slug,
            scan=f"{run.model.slug}:{'+'.join(dict.fromkeys(plan.source_slugs))}",
            prompt=params["prompt"],
            prompt_tokens=tokens,
            target_label=plan.target_label,
            target_source=plan.target.source_slug if isinstance(plan.target, FeatureTarget) else "",
            target_index=plan.target.index if isinstance(plan.target, FeatureTarget) else None,
            node_threshold=params["node_threshold"],
            edge_threshold=params["edge_threshold"],
            extra_metadata={"model": run.model.slug, "run": run.pk, "input_ids": plan.input_ids},
        )
        with transaction.atomic():
            graph = Graph.objects.create(
                model=run.model,
                slug=slug,
                title=params.get("title") or params["prompt"][:200],
                prompt=params["prompt"],
                target=plan.target_label,
                data=data,
                params={**params, "input_ids": plan.input_ids, "target_resolved": plan.target_spec},
                replacement_score=replacement,
                completeness_score=completeness,
                run=run,
                author=run.created_by,
            )
    except (GraphInputError, PipelineInputError, InferenceInputError) as error:
        run_fail(run=run, error=str(error))
        return None
    except IntegrityError:
        run_fail(run=run, error=f"{run.model.slug} already has a graph {params.get('slug')!r}.")
        return None
    run_succeed(
        run=run,
        message=f"Graph {graph.slug}: {len(data['nodes'])} nodes, {len(data['links'])} edges, "
        f"replacement {replacement:.2f}, completeness {completeness:.2f}",
        items_total=budget,
        items_done=budget,
    )
    return graph


def graph_run_resume(run: PipelineRun) -> Resumption:
    """A graph is one task: resuming runs it again from the start."""
    return Resumption(
        tasks=[("circuits.tasks.compute_graph", run.pk)],
        status=PipelineRun.Status.QUEUED,
        message="Queued again",
        summary=f"Run #{run.pk} will compute its graph again.",
    )
