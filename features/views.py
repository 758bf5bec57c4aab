"""The wiki's pages: home, a model, a source's feature index, a feature, a pipeline run, and the jump box."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.core.sliding_window import describe_period, describe_wait, parse_limit
from accounts.decorators import wiki_write
from accounts.rate_limits import RateLimited, rate_limit_consume, window_consume
from explanations.selectors import best_explanation_texts, feature_community

from . import page_cache, selectors, uploads
from .addresses import Missing, all_models_missing, locate, locate_query, missing_model
from .dashboard_html import feature_dashboard_html
from .highlighting import token_spans
from .models import Feature, LanguageModel, PipelineRun, Source
from .pipeline.errors import PipelineInputError
from .uploads import upload_limit


def _not_found_page(request: HttpRequest, missing: Missing, *, jump_query: str = "") -> HttpResponse:
    context = {
        "message": missing.message,
        "suggestions_label": missing.suggestions_label,
        "suggestions": missing.suggestions,
        "jump_query": jump_query,
    }
    return render(request, "404.html", context, status=404)


def _missing_page(request: HttpRequest, target: str | Missing) -> HttpResponse:
    # A page that did not exist a moment ago may exist now (a run just finished): then go there.
    return redirect(target) if isinstance(target, str) else _not_found_page(request, target)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404. The resolver's own exception carries a dict of tried patterns, not a message for people."""
    reason = exception.args[0] if exception and exception.args and isinstance(exception.args[0], str) else ""
    return _not_found_page(request, all_models_missing(reason or f"There is no page at {request.path}."))


def home(request: HttpRequest) -> HttpResponse:
    models = list(selectors.model_list())
    features = selectors.recently_active_features() if models else []
    return render(request, "features/home.html", {"models": models, "features": features})


def model_detail(request: HttpRequest, model_slug: str) -> HttpResponse:
    model = LanguageModel.objects.filter(slug=model_slug).first()
    if model is None:
        return _not_found_page(request, missing_model(model_slug))
    context = {
        "model": model,
        "sources": selectors.model_sources(model),
        "runs": selectors.model_recent_runs(model),
    }
    return render(request, "features/model_detail.html", context)


@dataclass
class SortColumn:
    label: str
    sort: str  # what clicking the header sorts by
    aria_sort: str  # "ascending", "descending", or "" when the table is not sorted by this column


def _sort_columns(current: str) -> list[SortColumn]:
    """Headers of the feature index. A click on the current column reverses it; the first click on a
    numeric column sorts highest first, since the strongest features are what people look for."""
    columns = []
    for label, name in [("Index", "index"), ("Max activation", "max_activation"), ("Density", "density")]:
        first_click = name if name == "index" else f"-{name}"
        if current == name:
            columns.append(SortColumn(label, first_click if name == "index" else f"-{name}", "ascending"))
        elif current == f"-{name}":
            columns.append(SortColumn(label, name, "descending"))
        else:
            columns.append(SortColumn(label, first_click, ""))
    return columns


def source_detail(request: HttpRequest, model_slug: str, source_slug: str) -> HttpResponse:
    source = Source.objects.select_related("model").filter(model__slug=model_slug, slug=source_slug).first()
    if source is None:
        return _missing_page(request, locate(model_slug, source_slug))
    sort = request.GET.get("sort", selectors.DEFAULT_SOURCE_SORT)
    if sort not in selectors.SOURCE_SORTS:
        sort = selectors.DEFAULT_SOURCE_SORT
    features = selectors.source_feature_index(source, sort=sort)
    page = Paginator(features, settings.FEATURES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"model": source.model, "source": source, "page": page, "sort": sort, "columns": _sort_columns(sort)}
    return render(request, "features/source_detail.html", context)


def feature_detail(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    key = page_cache.page_key(model_slug, source_slug, index) if page_cache.is_cacheable(request) else None
    if key is not None:
        cached = page_cache.cached_page(request, key)
        if cached is not None:
            return cached
    feature = selectors.feature_for_page(model_slug, source_slug, index)
    if feature is None:
        return _missing_page(request, locate(model_slug, source_slug, index))
    context = {
        "feature": feature,
        "source": feature.source,
        "model": feature.source.model,
        "previous_index": feature.previous_index,
        "next_index": feature.next_index,
        "community": feature_community(feature=feature, user=request.user),
        "dashboard": feature_dashboard_html(feature),
    }
    response = render(request, "features/feature_detail.html", context)
    if key is not None:
        page_cache.store_page(key, response)
    return response


def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = PipelineRun.objects.select_related("model").filter(pk=pk).first()
    if run is None:
        raise Http404(f"There is no pipeline run #{pk}.")
    context = {
        "run": run,
        "shards": run.shards.all()[:SHOWN_SHARDS],
        "shard_counts": dict(run.shards.values_list("status").annotate(count=Count("pk")).order_by()),
        "sources": _run_sources(run),
        "can_resume": _can_resume(request, run),
    }
    # htmx polls for the progress block alone; see _run_progress.html.
    template = "features/_run_progress.html" if request.htmx else "features/run_detail.html"
    return render(request, template, context)


SHOWN_SHARDS = 100


def _run_sources(run: PipelineRun) -> list[Source]:
    """What a finished activation run computed: its layers' neurons and its dictionaries."""
    if run.status != PipelineRun.Status.SUCCEEDED or run.model is None:
        return []
    neuron_slugs = [f"{layer}-mlp" for layer in run.params.get("layers", [])]
    dictionaries = run.params.get("dictionary_sources", [])
    return list(run.model.sources.filter(Q(slug__in=neuron_slugs) | Q(pk__in=dictionaries)))


def _can_resume(request: HttpRequest, run: PipelineRun) -> bool:
    if not (run.status == PipelineRun.Status.FAILED or run.is_stalled):
        return False
    return request.user.is_staff or (request.user.is_authenticated and run.created_by_id == request.user.pk)


def jump(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    if not query.strip("/ "):
        return redirect("features:home")
    target = locate_query(query)
    if isinstance(target, Missing):
        return _not_found_page(request, target, jump_query=query)
    return redirect(target)


# --- Uploads and runs started from the web ------------------------------------------------------


def _skipped_files(request: HttpRequest) -> list[str]:
    """Files the streaming size limit skipped (see uploads.upload_limit); reading FILES parses the body first."""
    request.FILES  # noqa: B018
    handler = getattr(request, "upload_limit", None)
    return handler.skipped if handler else []


@upload_limit("NEURONPEDIA_MAX_UPLOAD_BYTES")
@wiki_write()
def model_upload(request: HttpRequest) -> HttpResponse:
    from .forms import ModelUploadForm  # forms and services import torch: only pages that need it load it

    if request.method != "POST":
        return render(request, "features/model_upload.html", {"form": ModelUploadForm(user=request.user)})
    form = ModelUploadForm(request.POST, request.FILES, user=request.user, skipped_files=_skipped_files(request))
    if form.is_valid():
        data = form.cleaned_data
        details = {"display_name": data["display_name"], "description": data["description"]}
        try:
            if data.get("server_path"):  # staff only: the field exists for them alone
                model = uploads.model_register_directory(
                    slug=data["slug"], path=data["server_path"], created_by=request.user, **details
                )
            else:
                model = uploads.model_upload(slug=data["slug"], files=data["files"], created_by=request.user, **details)
        except PipelineInputError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                f"Registered {model.slug}: {model.architecture}, {model.n_layers} layers, d_model {model.d_model}. "
                "Choose what to compute.",
            )
            return redirect("features:run-new", model.slug)
    return render(request, "features/model_upload.html", {"form": form})


@upload_limit("NEURONPEDIA_MAX_DICTIONARY_BYTES")
@wiki_write()
def dictionary_upload(request: HttpRequest, model_slug: str) -> HttpResponse:
    from .forms import DictionaryUploadForm

    model = get_object_or_404(LanguageModel, slug=model_slug)
    if request.method != "POST":
        form = DictionaryUploadForm(model=model)
        return render(request, "features/dictionary_upload.html", {"form": form, "model": model})
    form = DictionaryUploadForm(request.POST, request.FILES, model=model, skipped_files=_skipped_files(request))
    if form.is_valid():
        data = form.cleaned_data
        try:
            source = uploads.dictionary_upload(
                model=model,
                slug=data["slug"],
                config=data["config"],
                weights=data["weights"],
                hook_name=data["hook_name"],
            )
        except PipelineInputError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                f"Registered {source}: {source.get_kind_display().lower()} with {source.n_features:,} features at "
                f"{source.hook_name}. Start a run to compute its dashboards.",
            )
            return redirect(f"{reverse('features:run-new', args=[model.slug])}?dictionaries={source.pk}")
    return render(request, "features/dictionary_upload.html", {"form": form, "model": model})


@upload_limit("NEURONPEDIA_MAX_CORPUS_BYTES")
@wiki_write()
def run_new(request: HttpRequest, model_slug: str) -> HttpResponse:
    from .forms import RunForm
    from .pipeline.corpus import BUILTIN_CORPUS
    from .services.activation_runs import activation_run_create
    from .services.runs import run_enqueue

    model = get_object_or_404(LanguageModel, slug=model_slug)
    if request.method != "POST":
        form = RunForm(model=model, initial={"dictionaries": request.GET.getlist("dictionaries")})
        return render(request, "features/run_new.html", {"form": form, "model": model})
    form = RunForm(request.POST, request.FILES, model=model, skipped_files=_skipped_files(request))
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        try:
            # Counted only for a valid form: a typo should not cost one of the few runs an hour.
            rate_limit_consume(action="run", key=str(request.user.pk))
            corpus = uploads.corpus_upload(data["corpus_file"]) if data["corpus_file"] else BUILTIN_CORPUS
            run = activation_run_create(
                model=model,
                layers=data["layers"],
                dictionary_sources=list(data["dictionaries"]),
                corpus=corpus,
                n_windows=data["n_windows"],
                window_len=data["window_len"],
                top_k=data["top_k"],
                shard_windows=data["shard_windows"],
                created_by=request.user,
            )
        except RateLimited as limited:
            limit = parse_limit(settings.WIKI_RATE_LIMITS["run"])
            form.add_error(
                None,
                f"You can start {limit.count} runs every {describe_wait(limit.seconds)}; "
                f"try again in {describe_wait(limited.retry_after)}.",
            )
            status = 429
        except PipelineInputError as error:
            form.add_error(None, str(error))
        else:
            run = run_enqueue(run=run)
            return redirect(run)
    return render(request, "features/run_new.html", {"form": form, "model": model}, status=status)


@wiki_write(rate="run")
@require_POST
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    from .services import runs

    run = get_object_or_404(PipelineRun, pk=pk)
    if not (request.user.is_staff or run.created_by_id == request.user.pk):
        raise PermissionDenied("Only the person who started a run, or staff, can resume it.")
    if run.status != PipelineRun.Status.FAILED and not run.is_stalled:
        messages.info(request, f"Run #{run.pk} is {run.get_status_display().lower()}: there is nothing to resume.")
        return redirect(run)
    resumed = runs.run_resume(run_id=run.pk)  # any kind: each registers how it resumes with the run engine
    messages.success(request, resumed.summary)
    return redirect(run)


# --- Live inference: test a feature, top features for a text, steering ---------------------------
# features/inference.py does the work (and imports torch, so it is imported inside the views that need it).

TEXT_FEATURES_K = 10
STEERING_DEFAULTS = {"prompt": "", "temperature": "0.7", "max_new_tokens": "32", "seed": "0"}


def _inference_refusal(request: HttpRequest) -> tuple[str, int] | None:
    """Count one live-inference request from the client's address (the sliding-window counter of
    accounts/rate_limits.py); (message, seconds to wait) once it is over the limit. Each request runs a model
    on this server, so the limit is per address, signed in or not."""
    limit = parse_limit(settings.NEURONPEDIA_INFERENCE_RATE)
    wait = window_consume(f"inference-rate:{request.META.get('REMOTE_ADDR', '')}", limit)
    if wait is None:
        return None
    return (
        f"Slow down a little: live inference runs a model on this server, so each visitor gets {limit.count} "
        f"requests {describe_period(limit.seconds)}. Try again in {describe_wait(wait)}.",
        wait,
    )


def _inference_response(request: HttpRequest, template: str, context: dict, refused: tuple[str, int] | None):
    if refused is None:
        return render(request, template, context, status=400 if context.get("error") else 200)
    context["error"] = refused[0]
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(refused[1])
    return response


def feature_test(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    """POST a text: the feature's activation at each of its tokens, highlighted like the stored examples."""
    feature = (
        Feature.objects.select_related("source__model")
        .filter(source__model__slug=model_slug, source__slug=source_slug, index=index)
        .first()
    )
    if feature is None:
        return _missing_page(request, locate(model_slug, source_slug, index))
    if request.method != "POST":
        return redirect(f"{feature.get_absolute_url()}#test-feature")
    from . import inference

    text = request.POST.get("text", "")
    context = {"feature": feature, "source": feature.source, "model": feature.source.model, "text": text}
    template = "features/_test_feature_result.html" if request.htmx else "features/feature_test.html"
    refused = _inference_refusal(request)
    if refused is None:
        try:
            result = inference.feature_activations(feature, text)
        except inference.InferenceInputError as error:
            context["error"] = str(error)
        else:
            # Coloured against the feature's max over the corpus, as its stored examples are.
            scale = feature.max_activation if feature.max_activation > 0 else result.max_value
            spans = token_spans(result.tokens, result.values, scale=scale, max_index=result.max_index)
            context.update(result=result, spans=spans)
    return _inference_response(request, template, context, refused)


@dataclass
class TokenRow:
    position: int
    span: object  # highlighting.TokenSpan
    hits: list


def text_features(request: HttpRequest, model_slug: str) -> HttpResponse:
    """The features of one source, or of all the model's sources, that fire most on a text."""
    model = LanguageModel.objects.filter(slug=model_slug).first()
    if model is None:
        return _not_found_page(request, missing_model(model_slug))
    sources = list(selectors.model_sources(model))
    data = request.POST if request.method == "POST" else request.GET
    context = {"model": model, "sources": sources, "text": data.get("text", ""), "source_slug": data.get("source", "")}
    if request.method != "POST":
        return render(request, "features/text_features.html", context)
    from . import inference

    refused = _inference_refusal(request)
    if refused is None:
        try:
            chosen = None
            if context["source_slug"]:
                chosen = [source for source in sources if source.slug == context["source_slug"]]
                if not chosen:
                    raise inference.InferenceInputError(
                        f"{model.slug} has no source {context['source_slug']!r}; choose one from the list."
                    )
            result = inference.top_features_for_text(model, context["text"], sources=chosen, k=TEXT_FEATURES_K)
        except inference.InferenceInputError as error:
            context["error"] = str(error)
        else:
            context.update(_text_features_context(model, result))
    return _inference_response(request, "features/text_features.html", context, refused)


def _text_features_context(model: LanguageModel, result) -> dict:

    explanations = best_explanation_texts(
        model=model, addresses={(hit.source_slug, hit.index) for hit in result.overall}
    )
    top = result.overall[0].value if result.overall else 0.0
    strongest = [hits[0].value if hits else 0.0 for hits in result.per_token]
    peak = max(range(len(strongest)), key=strongest.__getitem__) if top > 0 else None
    spans = token_spans(result.tokens, strongest, scale=top, max_index=peak)
    return {
        "result": result,
        "overall": [(hit, explanations.get((hit.source_slug, hit.index), "")) for hit in result.overall],
        "token_rows": [
            TokenRow(position, span, hits)
            for position, (span, hits) in enumerate(zip(spans, result.per_token, strict=True))
        ],
    }


def _steering_number(raw: str, label: str, convert):
    from .inference import InferenceInputError

    try:
        return convert(raw.strip())
    except ValueError:
        kind = "a whole number" if convert is int else "a number"
        raise InferenceInputError(f"{label} must be {kind}; got {raw.strip()!r}.") from None


def _steering_choices(model: LanguageModel, sources: list[Source], rows: list[dict]) -> list:
    """(feature, strength) for each filled row; a feature that has no row yet (a source whose dashboards
    are not computed) is steered with all the same, as an unsaved Feature."""
    from .inference import InferenceInputError

    by_slug = {source.slug: source for source in sources}
    wanted = []
    for number, row in enumerate(rows, start=1):
        if not row["index"].strip():
            continue
        source = by_slug.get(row["source"])
        if source is None:
            raise InferenceInputError(f"Row {number}: choose one of {model.slug}'s sources.")
        index = _steering_number(row["index"], f"Row {number}: the feature index", int)
        strength = _steering_number(row["strength"] or "0", f"Row {number}: the strength", float)
        wanted.append((source, index, strength))
    stored = {
        (feature.source_id, feature.index): feature
        for feature in Feature.objects.select_related("source__model").filter(
            source__in=[source for source, _, _ in wanted], index__in=[index for _, index, _ in wanted]
        )
    }
    return [
        (stored.get((source.pk, index)) or Feature(source=source, index=index), strength)
        for source, index, strength in wanted
    ]


def steering(request: HttpRequest, model_slug: str) -> HttpResponse:
    """Generate with chosen features added at their hooks, beside the plain generation from the same seed."""
    model = LanguageModel.objects.filter(slug=model_slug).first()
    if model is None:
        return _not_found_page(request, missing_model(model_slug))
    from . import inference

    sources = list(selectors.model_sources(model))
    data = request.POST if request.method == "POST" else request.GET
    params = {name: data.get(name, default) for name, default in STEERING_DEFAULTS.items()}
    first_source = sources[0].slug if sources else ""
    if request.method == "POST":
        rows = [
            {name: data.get(f"{name}_{i}", "") for name in ("source", "index", "strength")}
            for i in range(inference.MAX_STEERING_FEATURES)
        ]
    else:  # "Steer with this feature" links fill in the first row
        rows = [{"source": data.get("source", first_source), "index": data.get("index", ""), "strength": "10"}]
        rows += [
            {"source": first_source, "index": "", "strength": ""} for _ in range(inference.MAX_STEERING_FEATURES - 1)
        ]
    context = {
        "model": model,
        "sources": sources,
        "params": params,
        "rows": rows,
        "limits": {
            "max_new_tokens": inference.MAX_NEW_TOKENS,
            "max_strength": inference.MAX_STRENGTH,
            "max_temperature": inference.MAX_TEMPERATURE,
            "max_seed": inference.MAX_SEED,
            "max_chars": inference.MAX_TEXT_CHARS,
        },
    }
    if request.method != "POST":
        return render(request, "features/steer.html", context)
    refused = _inference_refusal(request)
    if refused is None:
        try:
            steering = _steering_choices(model, sources, rows)
            context["result"] = inference.steer(
                model,
                params["prompt"],
                steering,
                max_new_tokens=_steering_number(params["max_new_tokens"], "Tokens to generate", int),
                temperature=_steering_number(params["temperature"], "Temperature", float),
                seed=_steering_number(params["seed"], "Seed", int),
            )
            context["steering"] = steering
        except inference.InferenceInputError as error:
            context["error"] = str(error)
    return _inference_response(request, "features/steer.html", context, refused)
