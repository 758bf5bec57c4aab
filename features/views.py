"""The features app's own pages: a model, the jump box, uploads and starting a run, and live inference (test a
feature, steering). Pages that also show the wiki, scores or the game (home, source, feature, run, profile, the
text page) are in front/."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from accounts.decorators import wiki_write
from accounts.rate_limits import RateLimited, rate_limit_consume

from . import selectors, uploads
from .addresses import Missing, locate, locate_query, missing_model
from .core.highlighting import token_spans
from .models import Feature, LanguageModel, Source
from .page_responses import inference_refusal, inference_response, missing_page, not_found_page
from .pipeline.errors import PipelineInputError
from .uploads import upload_limit


def model_detail(request: HttpRequest, model_slug: str) -> HttpResponse:
    model = LanguageModel.objects.filter(slug=model_slug).first()
    if model is None:
        return not_found_page(request, missing_model(model_slug))
    context = {
        "model": model,
        "sources": selectors.model_sources(model),
        "runs": selectors.model_recent_runs(model),
    }
    return render(request, "features/model_detail.html", context)


def jump(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    if not query.strip("/ "):
        return redirect("front:home")
    target = locate_query(query)
    if isinstance(target, Missing):
        return not_found_page(request, target, jump_query=query)
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
            corpus = uploads.corpus_upload(data["corpus_file"]) if data["corpus_file"] else data["corpus"]
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
            form.add_error(None, str(limited))
            status = 429
        except PipelineInputError as error:
            form.add_error(None, str(error))
        else:
            run = run_enqueue(run=run)
            return redirect(run)
    return render(request, "features/run_new.html", {"form": form, "model": model}, status=status)


# --- Live inference: test a feature, top features for a text, steering ---------------------------
# features/inference.py does the work (and imports torch, so it is imported inside the views that need it).

STEERING_DEFAULTS = {"prompt": "", "temperature": "0.7", "max_new_tokens": "32", "seed": "0"}


def feature_example(request: HttpRequest, model_slug: str, source_slug: str, index: int, pk: int) -> HttpResponse:
    """One stored example of a feature: its whole window (the feature page's "More"), or one line of it with
    ?snippet=1 ("Less"). htmx swaps it in place of the line; without JavaScript it is a page of its own."""
    return _examples_response(
        request,
        selectors.feature_examples_shown(model_slug, source_slug, index, example_pk=pk),
        whole="snippet" not in request.GET,
        missing=f"Feature {model_slug}/{source_slug}/{index} has no example #{pk}.",
    )


def feature_interval(
    request: HttpRequest, model_slug: str, source_slug: str, index: int, interval: int
) -> HttpResponse:
    """An activation interval's samples after the first, which the feature page shows on its own."""
    return _examples_response(
        request,
        selectors.feature_examples_shown(model_slug, source_slug, index, interval=interval),
        whole=False,
        missing=f"Feature {model_slug}/{source_slug}/{index} has no more samples in interval {interval}.",
    )


def _examples_response(request: HttpRequest, examples: list, *, whole: bool, missing: str) -> HttpResponse:
    if not examples:
        return not_found_page(request, Missing(missing))
    feature = examples[0].feature
    context = {
        "examples": examples,
        "feature": feature,
        "source": feature.source,
        "model": feature.source.model,
        "whole": whole,
    }
    return render(request, "features/_examples.html" if request.htmx else "features/feature_examples.html", context)


def feature_test(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    """POST a text: the feature's activation at each of its tokens, highlighted like the stored examples."""
    feature = selectors.feature_at(model_slug, source_slug, index)
    if feature is None:
        return missing_page(request, locate(model_slug, source_slug, index))
    if request.method != "POST":
        return redirect(f"{feature.get_absolute_url()}#test-feature")
    from . import inference

    text = request.POST.get("text", "")
    context = {"feature": feature, "source": feature.source, "model": feature.source.model, "text": text}
    template = "features/_test_feature_result.html" if request.htmx else "features/feature_test.html"
    refused = inference_refusal(request)
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
    return inference_response(request, template, context, refused)


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
        return not_found_page(request, missing_model(model_slug))
    from . import inference, steering

    sources = list(selectors.model_sources(model))
    data = request.POST if request.method == "POST" else request.GET
    params = {name: data.get(name, default) for name, default in STEERING_DEFAULTS.items()}
    first_source = sources[0].slug if sources else ""
    if request.method == "POST":
        rows = [
            {name: data.get(f"{name}_{i}", "") for name in ("source", "index", "strength")}
            for i in range(steering.MAX_STEERING_FEATURES)
        ]
    else:  # "Steer with this feature" links fill in the first row
        rows = [{"source": data.get("source", first_source), "index": data.get("index", ""), "strength": "10"}]
        rows += [
            {"source": first_source, "index": "", "strength": ""} for _ in range(steering.MAX_STEERING_FEATURES - 1)
        ]
    context = {
        "model": model,
        "sources": sources,
        "params": params,
        "rows": rows,
        "limits": {
            "max_new_tokens": steering.MAX_NEW_TOKENS,
            "max_strength": steering.MAX_STRENGTH,
            "max_temperature": steering.MAX_TEMPERATURE,
            "max_seed": steering.MAX_SEED,
            "max_chars": inference.MAX_TEXT_CHARS,
        },
    }
    if request.method != "POST":
        return render(request, "features/steer.html", context)
    refused = inference_refusal(request)
    if refused is None:
        try:
            additions = _steering_choices(model, sources, rows)
            context["result"] = steering.steer(
                model,
                params["prompt"],
                additions,
                max_new_tokens=_steering_number(params["max_new_tokens"], "Tokens to generate", int),
                temperature=_steering_number(params["temperature"], "Temperature", float),
                seed=_steering_number(params["seed"], "Seed", int),
            )
            context["steering"] = additions
        except inference.InferenceInputError as error:
            context["error"] = str(error)
    return inference_response(request, "features/steer.html", context, refused)
