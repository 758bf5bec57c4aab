"""Live inference (features/inference.py) and its pages: test a feature, top features for a text, steering."""

import re
import threading
import time
from pathlib import Path

import pytest
import torch
from django.core.cache import cache as django_cache
from django.utils.html import escape
from safetensors.torch import load_file, save_file

from features import inference
from features.inference import InferenceInputError
from features.models import Feature, LanguageModel, Source
from features.pipeline import cache
from features.pipeline.cache import LoadedCache
from features.pipeline.corpus import special_token_frame
from features.pipeline.loading import load_language_model
from features.services import activation_runs, registration
from features.steering import steer

from ..conftest import save_tiny_dictionary

TEXT = "The black cat sat on the warm mat while the dog slept."
UNICODE_TEXT = "Café naïve 🙂 東京タワー e\u0301 — ok"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    django_cache.clear()
    yield
    django_cache.clear()


@pytest.fixture(scope="session")
def firing_sae_dir(tmp_path_factory) -> Path:
    """tiny_sae_dir's SAE with its encoder scaled up: the random tiny GPT-2's residual stream is so small
    (norm ~0.2) that the plain tiny SAE never fires on it, and equal zeros would prove little."""
    directory = save_tiny_dictionary(
        tmp_path_factory.mktemp("firing-sae"), "standard", d_in=32, d_sae=40, hook_name="blocks.1.hook_resid_pre"
    )
    weights = load_file(directory / "sae_weights.safetensors")
    weights["W_enc"] = weights["W_enc"] * 30
    save_file(weights, directory / "sae_weights.safetensors")
    return directory


@pytest.fixture
def gpt2_run(db, tiny_gpt2_dir, firing_sae_dir, sample_corpus_file):
    """The tiny GPT-2 (`tiny-gpt2`) with its layer-0 neurons (`0-mlp`) and a standard SAE on
    blocks.1.hook_resid_pre (`1-res`, prepend_bos false), computed over the sample corpus."""
    model = registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    source = registration.dictionary_register(model=model, path=str(firing_sae_dir), slug="1-res")
    run = activation_runs.activation_run_create(
        model=model,
        layers=[0],
        dictionary_sources=[source],
        corpus=str(sample_corpus_file),
        n_windows=12,
        window_len=16,
        top_k=5,
        sync=True,
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == "succeeded", run.error
    return model


def feature(model_slug: str, source_slug: str, index: int | None = None) -> Feature:
    """The given feature, or the source's strongest one."""
    features = Feature.objects.select_related("source__model").filter(
        source__model__slug=model_slug, source__slug=source_slug
    )
    return features.get(index=index) if index is not None else features.order_by("-max_activation", "index")[0]


# --- Live values equal stored values ------------------------------------------------------------


@pytest.mark.parametrize("source_slug", ["0-mlp", "2-mlp"])
def test_replaying_a_stored_window_gives_the_stored_neuron_activations(computed_run, source_slug):
    for strongest in Feature.objects.filter(source__slug=source_slug).order_by("-max_activation")[:3]:
        strongest = feature("tiny-bert", source_slug, strongest.index)
        for example in strongest.examples.select_related("window").order_by("kind", "rank"):
            live = inference.feature_activations_for_token_ids(strongest, example.window.token_ids)
            assert torch.allclose(torch.tensor(live), torch.tensor(example.activations), atol=1e-5)


def test_replaying_a_stored_window_gives_the_stored_sae_activations(gpt2_run):
    for source_slug in ("1-res", "0-mlp"):
        strongest = feature("tiny-gpt2", source_slug)
        assert strongest.max_activation > 0
        top = strongest.examples.select_related("window").get(kind="top", rank=0)
        live = inference.feature_activations_for_token_ids(strongest, top.window.token_ids)
        assert torch.allclose(torch.tensor(live), torch.tensor(top.activations), atol=1e-5)
        assert max(live) == pytest.approx(strongest.max_activation, abs=1e-5)


def test_a_text_is_framed_like_a_window_and_special_tokens_are_zero(computed_run):
    neuron = feature("tiny-bert", "0-mlp")
    result = inference.feature_activations(neuron, TEXT)
    assert len(result.tokens) == len(result.values)
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
    assert result.values[0] == 0.0 and result.values[-1] == 0.0
    assert "".join(result.tokens[1:-1]).split() == TEXT.lower().replace(".", " .").split()
    content = result.values[1:-1]
    assert result.max_value == max(content) and result.values[result.max_index] == result.max_value
    # The text path is the replay path on the framed ids.
    loaded = load_language_model(computed_run.model.path)
    ids = loaded.tokenizer(TEXT)["input_ids"]
    assert result.values == inference.feature_activations_for_token_ids(neuron, ids)


def test_a_dictionary_s_prepend_bos_decides_the_framing(gpt2_run):
    result = inference.feature_activations(feature("tiny-gpt2", "1-res"), TEXT)
    # prepend_bos false: the tokenizer's [CLS] (its BOS) is dropped, its [SEP] stays.
    assert result.tokens[0] != "[CLS]" and result.tokens[-1] == "[SEP]"
    assert result.values[-1] == 0.0


def test_unicode_text_works(computed_run):
    result = inference.feature_activations(feature("tiny-bert", "0-mlp"), UNICODE_TEXT)
    assert len(result.tokens) == len(result.values) > 5
    assert any(token.strip() in {"東", "京"} for token in result.tokens)
    # The tokenizer cannot read the emoji: [UNK] is a special token, so it is 0 like [CLS] and [SEP].
    assert all(value == 0.0 for token, value in zip(result.tokens, result.values, strict=True) if token == "[UNK]")


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Enter some text: it is empty."),
        ("  \n\t ", "Enter some text: it is empty."),
        ("x" * 4001, "The text is 4,001 characters long; the limit is 4,000. Shorten it."),
        ("cat " * 200, "The text is 202 tokens long; tiny-bert reads at most 128 tokens. Shorten it."),
        ("\u200b", "The text gives no tokens"),
    ],
)
def test_bad_text_is_refused_with_a_clear_message(computed_run, text, message):
    with pytest.raises(InferenceInputError) as refused:
        inference.feature_activations(feature("tiny-bert", "0-mlp"), text)
    assert str(refused.value).startswith(message)


def test_text_over_the_token_limit_is_refused(computed_run, monkeypatch):
    monkeypatch.setattr(inference, "MAX_TOKENS", 8)
    with pytest.raises(InferenceInputError, match="The text is 15 tokens long; the limit is 8 tokens. Shorten it."):
        inference.feature_activations(feature("tiny-bert", "0-mlp"), TEXT)
    with pytest.raises(InferenceInputError, match="the limit is 8 tokens"):
        inference.top_features_for_text(computed_run.model, TEXT)


def test_replaying_bad_token_ids_is_refused(computed_run):
    neuron = feature("tiny-bert", "0-mlp")
    for ids, message in [([], "at least one token id"), ([101, 30522], "from 0 to 30521"), ([1] * 129, "at most 128")]:
        with pytest.raises(InferenceInputError, match=message):
            inference.feature_activations_for_token_ids(neuron, ids)


def test_a_feature_index_beyond_the_source_is_refused(computed_run):
    source = Source.objects.get(model__slug="tiny-bert", slug="0-mlp")
    with pytest.raises(InferenceInputError, match="0-mlp has features 0 to 47; there is no feature 48."):
        inference.feature_activations(Feature(source=source, index=48), TEXT)


# --- Top features for a text -------------------------------------------------------------------------


def test_top_features_are_sorted_and_their_values_are_the_features_own_activations(computed_run):
    model = computed_run.model
    result = inference.top_features_for_text(model, TEXT, k=5)
    assert len(result.tokens) == len(result.per_token)
    values = [hit.value for hit in result.overall]
    assert len(values) == 5 and values == sorted(values, reverse=True)
    top = result.overall[0]
    assert top.url == f"/tiny-bert/{top.source_slug}/{top.index}/"
    own = inference.feature_activations(feature("tiny-bert", top.source_slug, top.index), TEXT)
    assert top.value == pytest.approx(own.max_value, abs=1e-6)
    assert own.max_value == pytest.approx(max(own.values), abs=1e-6)
    for position, hits in enumerate(result.per_token):
        assert len(hits) <= 5
        assert [hit.value for hit in hits] == sorted((hit.value for hit in hits), reverse=True)
        for hit in hits[:2]:
            assert hit.value > 0
            live = inference.feature_activations(feature("tiny-bert", hit.source_slug, hit.index), TEXT)
            assert live.values[position] == pytest.approx(hit.value, abs=1e-6)
    assert result.per_token[0] == [] and result.per_token[-1] == []  # [CLS] and [SEP]
    # Every overall hit is the best of its feature, so it beats that feature at every token.
    best = {(hit.source_slug, hit.index): hit.value for hit in result.overall}
    for hits in result.per_token:
        for hit in hits:
            if (hit.source_slug, hit.index) in best:
                assert hit.value <= best[(hit.source_slug, hit.index)] + 1e-6


def test_top_features_of_one_source_come_from_that_source_only(computed_run):
    source = Source.objects.get(model__slug="tiny-bert", slug="2-mlp")
    result = inference.top_features_for_text(computed_run.model, TEXT, sources=[source], k=3)
    hits = [*result.overall, *(hit for hits in result.per_token for hit in hits)]
    assert hits and {hit.source_slug for hit in hits} == {"2-mlp"}


def test_sources_framed_differently_are_lined_up_token_by_token(gpt2_run):
    """0-mlp takes the tokenizer's [CLS] ... [SEP]; the SAE (prepend_bos false) drops the [CLS]."""
    result = inference.top_features_for_text(gpt2_run, TEXT, k=40)
    assert result.tokens[0] == "[CLS]"
    sae_hits = [
        (position, hit) for position, hits in enumerate(result.per_token) for hit in hits if hit.source_slug == "1-res"
    ]
    assert sae_hits
    position, hit = sae_hits[0]
    own = inference.feature_activations(feature("tiny-gpt2", "1-res", hit.index), TEXT)
    assert own.values[position - 1] == pytest.approx(hit.value, abs=1e-6)  # one token earlier: no [CLS]


def test_top_features_refuse_bad_requests(computed_run, gpt2_run):
    model = computed_run.model
    with pytest.raises(InferenceInputError, match="k must be a whole number from 1 to 100"):
        inference.top_features_for_text(model, TEXT, k=0)
    other = Source.objects.get(model__slug="tiny-gpt2", slug="1-res")
    with pytest.raises(InferenceInputError, match="is not a source of tiny-bert"):
        inference.top_features_for_text(model, TEXT, sources=[other])
    empty = LanguageModel.objects.create(
        slug="empty", display_name="empty", path=model.path, architecture="bert", n_layers=3, d_model=32, d_mlp=48,
        vocab_size=30522,
    )  # fmt: skip
    with pytest.raises(InferenceInputError, match="empty has no sources yet"):
        inference.top_features_for_text(empty, TEXT)


# --- Steering -------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_steering_with_strength_zero_is_the_plain_generation(gpt2_run, tiny_gpt2_dir, temperature):
    sae_feature = feature("tiny-gpt2", "1-res")
    neuron = feature("tiny-gpt2", "0-mlp")
    result = steer(
        gpt2_run, "The cat", [(sae_feature, 0.0), (neuron, 0.0)], max_new_tokens=12, temperature=temperature, seed=7
    )
    assert result.steered == result.plain and result.seed == 7 and result.prompt == "The cat"
    # ... and the plain generation is what the model generates by itself from that seed.
    loaded = load_language_model(tiny_gpt2_dir)
    prefix, _ = special_token_frame(loaded.tokenizer)
    ids = torch.tensor([prefix + loaded.tokenizer("The cat", add_special_tokens=False)["input_ids"]])
    torch.manual_seed(7)
    sampling = {"do_sample": True, "temperature": temperature} if temperature else {"do_sample": False}
    output = loaded.model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, pad_token_id=0, **sampling
    )
    assert result.plain == loaded.tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)


def test_the_same_seed_gives_the_same_generations(gpt2_run):
    steering = [(feature("tiny-gpt2", "1-res"), 8.0)]
    first = steer(gpt2_run, "Rivers flow", steering, max_new_tokens=10, temperature=1.0, seed=3)
    second = steer(gpt2_run, "Rivers flow", steering, max_new_tokens=10, temperature=1.0, seed=3)
    assert first == second


@pytest.mark.parametrize("source_slug", ["1-res", "0-mlp"])
def test_a_strong_feature_changes_the_generation(gpt2_run, source_slug):
    steering = [(feature("tiny-gpt2", source_slug), 60.0)]
    result = steer(gpt2_run, "The cat", steering, max_new_tokens=16, temperature=0.0)
    assert result.plain and result.steered != result.plain


def test_steering_leaves_no_hook_behind(gpt2_run):
    loaded = cache.models.get(gpt2_run.path)
    before = inference.feature_activations(feature("tiny-gpt2", "1-res"), TEXT).values
    steer(gpt2_run, "The cat", [(feature("tiny-gpt2", "1-res"), 50.0)], max_new_tokens=4)
    assert inference.feature_activations(feature("tiny-gpt2", "1-res"), TEXT).values == before
    assert all(not module._forward_hooks and not module._forward_pre_hooks for module in loaded.model.modules())


def test_steering_needs_a_causal_language_model(computed_run):
    with pytest.raises(InferenceInputError, match="^Steering needs a causal language model"):
        steer(computed_run.model, "The cat", [(feature("tiny-bert", "0-mlp"), 5.0)])


def test_steering_refuses_a_normalised_point_that_is_not_a_stream(gpt2_run, tmp_path, sample_corpus_file):
    """ln2.hook_normalized is the stream normalised without the norm's weight, as in TransformerLens: it exists
    only inside the norm, so there is nothing to add a direction to."""
    directory = save_tiny_dictionary(tmp_path, "standard", d_in=32, d_sae=8, hook_name="blocks.1.ln2.hook_normalized")
    source = registration.dictionary_register(model=gpt2_run, path=str(directory), slug="1-ln2")
    run = activation_runs.activation_run_create(
        model=gpt2_run,
        dictionary_sources=[source],
        corpus=str(sample_corpus_file),
        n_windows=2,
        window_len=8,
        sync=True,
    )
    assert activation_runs.activation_run_start(run_id=run.pk).status == "succeeded"
    with pytest.raises(InferenceInputError, match="ln2.hook_normalized is a normalised copy of the residual stream"):
        steer(gpt2_run, "The cat", [(feature("tiny-gpt2", "1-ln2", 0), 5.0)])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"strength": 100.5}, "Strength must be between -100 and 100; got 100.5."),
        ({"strength": float("nan")}, "Strength must be a number."),
        ({"temperature": 2.5}, "Temperature must be between 0 and 2; got 2.5."),
        ({"max_new_tokens": 65}, "Tokens to generate must be between 1 and 64; got 65."),
        ({"max_new_tokens": 0}, "Tokens to generate must be between 1 and 64; got 0."),
        ({"seed": -1}, "Seed must be between 0 and 2.14748e+09; got -1."),
        ({"seed": 1.5}, "Seed must be a whole number."),
        ({"count": 9}, "Steer with at most 8 features at once."),
        ({"count": 0}, "Choose at least one feature to steer with."),
        ({"prompt": " "}, "Enter some prompt: it is empty."),
        ({"prompt": "cat " * 120}, "tiny-gpt2 reads at most 128 tokens: the prompt (121 tokens) and 32 new tokens"),
    ],
)
def test_steering_bounds_are_enforced(gpt2_run, options, message):
    sae_feature = feature("tiny-gpt2", "1-res")
    steering = [(sae_feature, options.get("strength", 1.0))] * options.get("count", 1)
    with pytest.raises(InferenceInputError) as refused:
        steer(
            gpt2_run,
            options.get("prompt", "The cat"),
            steering,
            **{name: options[name] for name in ("temperature", "max_new_tokens", "seed") if name in options},
        )
    assert str(refused.value).startswith(message)


def test_steering_with_another_model_s_feature_is_refused(computed_run, gpt2_run):
    with pytest.raises(InferenceInputError, match="is not a feature of tiny-gpt2"):
        steer(gpt2_run, "The cat", [(feature("tiny-bert", "0-mlp"), 1.0)])


# --- Concurrency -----------------------------------------------------------------------------------


def test_two_requests_at_once_load_the_model_once(computed_run, monkeypatch):
    loads = []

    def slow_counting_load(path, **options):
        loads.append(path)
        time.sleep(0.3)  # both threads arrive while the first load is still running
        return load_language_model(path, **options)

    monkeypatch.setattr(cache, "models", LoadedCache(slow_counting_load, max_items=2))
    neuron = feature("tiny-bert", "0-mlp")
    results, errors = [], []

    def request():
        try:
            results.append(inference.feature_activations(neuron, TEXT))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert loads == [computed_run.model.path]
    assert results[0] == results[1]


def test_concurrent_inference_on_one_model_does_not_mix_hooks(computed_run):
    """Hooks live on modules: two threads on one cached model must not capture each other's activations."""
    first, last = feature("tiny-bert", "0-mlp"), feature("tiny-bert", "2-mlp")
    expected = {
        first.pk: inference.feature_activations(first, TEXT).values,
        last.pk: inference.feature_activations(last, TEXT).values,
    }
    mismatches = []

    def request(target):
        for _ in range(10):
            if inference.feature_activations(target, TEXT).values != expected[target.pk]:
                mismatches.append(target.pk)

    threads = [threading.Thread(target=request, args=(target,)) for target in (first, last, first, last)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


# --- Pages ---------------------------------------------------------------------------------------------


def test_the_feature_page_has_the_test_box_and_offers_steering_only_where_it_can_run(computed_run, gpt2_run, client):
    neuron = feature("tiny-bert", "0-mlp")
    content = client.get(neuron.get_absolute_url()).content.decode()
    assert f'hx-post="/tiny-bert/0-mlp/{neuron.index}/test/"' in content
    assert "Test this feature on your text" in content
    # htmx leaves 4xx unswapped (base.html); the result box lets the 400 that carries a message in.
    assert '<div id="test-feature-result" aria-live="polite"\n       hx-on::before-swap=' in content
    # An encoder cannot generate: no link to a form that would only refuse, and the reason instead.
    assert 'href="/steer/tiny-bert/' not in content
    assert "No steering: tiny-bert (bert) has no language-model head" in content
    causal = feature("tiny-gpt2", "0-mlp")
    content = client.get(causal.get_absolute_url()).content.decode()
    assert f'href="/steer/tiny-gpt2/?source=0-mlp&amp;index={causal.index}"' in content


def test_testing_a_feature_with_htmx_returns_the_highlighted_tokens(computed_run, client):
    neuron = feature("tiny-bert", "0-mlp")
    response = client.post(f"{neuron.get_absolute_url()}test/", {"text": TEXT}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content  # a partial
    live = inference.feature_activations(neuron, TEXT)
    assert '<span class="tok special" title="special token">[CLS]</span>' in content
    token, value = live.tokens[live.max_index], live.values[live.max_index]
    assert 'class="tok max"' in content and f'title="{value:.3f}">{escape(token)}</span>' in content
    assert len(re.findall(r'<span class="tok[ "]', content)) == len(live.tokens)


def test_testing_a_feature_without_javascript_shows_a_whole_page(computed_run, client):
    neuron = feature("tiny-bert", "0-mlp")
    response = client.post(f"{neuron.get_absolute_url()}test/", {"text": UNICODE_TEXT})
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" in content and "Back to the feature" in content and '<span class="tok' in content
    assert client.get(f"{neuron.get_absolute_url()}test/").url == f"{neuron.get_absolute_url()}#test-feature"


@pytest.mark.parametrize("htmx", [True, False])
@pytest.mark.parametrize(
    "text, message", [("", "Enter some text: it is empty."), ("cat " * 200, "tiny-bert reads at most 128 tokens")]
)
def test_bad_text_on_the_feature_page_is_a_400_with_the_message(computed_run, client, htmx, text, message):
    neuron = feature("tiny-bert", "0-mlp")
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(f"{neuron.get_absolute_url()}test/", {"text": text}, **headers)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_testing_a_missing_feature_is_a_404(computed_run, client):
    assert client.post("/tiny-bert/0-mlp/999/test/", {"text": TEXT}).status_code == 404


def test_inference_is_rate_limited_per_address_with_a_friendly_message(computed_run, client, settings):
    settings.NEURONPEDIA_INFERENCE_RATE = "2/m"
    url = f"{feature('tiny-bert', '0-mlp').get_absolute_url()}test/"
    assert client.post(url, {"text": TEXT}, HTTP_HX_REQUEST="true").status_code == 200
    assert client.post("/text-features/tiny-bert/", {"text": TEXT}).status_code == 200
    response = client.post(url, {"text": TEXT}, HTTP_HX_REQUEST="true")
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert "Slow down a little: live inference runs a model on this server" in response.content.decode()
    assert client.post("/steer/tiny-bert/", {"prompt": "x"}).status_code == 429
    other_address = client.post(url, {"text": TEXT}, HTTP_HX_REQUEST="true", REMOTE_ADDR="10.0.0.9")
    assert other_address.status_code == 200


def test_the_text_page_lists_top_features_with_links_and_explanations(computed_run, client):
    from .wiki_data import add_explanation

    top = inference.top_features_for_text(computed_run.model, TEXT, k=10).overall[0]
    add_explanation(feature("tiny-bert", top.source_slug, top.index), "cats on mats", best_score=0.5)
    assert "Find features" in client.get("/text-features/tiny-bert/").content.decode()
    response = client.post("/text-features/tiny-bert/", {"text": TEXT, "source": ""})
    assert response.status_code == 200
    content = response.content.decode()
    assert f'<a href="{top.url}">{top.source_slug}/{top.index}</a>' in content
    assert "cats on mats" in content
    assert 'href="#token-1"' in content and '<tr id="token-1">' in content
    assert '<tr id="token-0">' not in content  # [CLS]


def test_the_text_page_can_use_one_source_and_reports_bad_input(computed_run, client):
    response = client.post("/text-features/tiny-bert/", {"text": TEXT, "source": "2-mlp"})
    assert response.status_code == 200 and "2-mlp/" in response.content.decode()
    assert "0-mlp/" not in response.content.decode().split("Strongest features on this text", 1)[1]
    bad_source = client.post("/text-features/tiny-bert/", {"text": TEXT, "source": "9-mlp"})
    assert bad_source.status_code == 400 and "tiny-bert has no source &#x27;9-mlp&#x27;" in bad_source.content.decode()
    empty = client.post("/text-features/tiny-bert/", {"text": ""})
    assert empty.status_code == 400 and "Enter some text: it is empty." in empty.content.decode()
    assert client.get("/text-features/nope/").status_code == 404


def test_the_steering_page_shows_steered_and_plain_generations(gpt2_run, client):
    sae_feature = feature("tiny-gpt2", "1-res")
    form = client.get(f"/steer/tiny-gpt2/?source=1-res&index={sae_feature.index}").content.decode()
    assert f'name="index_0" min="0" step="1" value="{sae_feature.index}"' in form
    data = {"prompt": "The cat", "temperature": "0", "max_new_tokens": "8", "seed": "5"}
    data.update({"source_0": "1-res", "index_0": str(sae_feature.index), "strength_0": "40"})
    data.update({"source_1": "0-mlp", "index_1": "", "strength_1": ""})  # skipped
    response = client.post("/steer/tiny-gpt2/", data)
    assert response.status_code == 200
    expected = steer(gpt2_run, "The cat", [(sae_feature, 40.0)], max_new_tokens=8, temperature=0.0, seed=5)
    content = response.content.decode()
    assert f'<span class="prompt">The cat</span> {escape(expected.steered)}</p>' in content
    assert f'<span class="prompt">The cat</span> {escape(expected.plain)}</p>' in content


@pytest.mark.parametrize(
    "change, message",
    [
        ({"strength_0": "500"}, "Strength must be between -100 and 100; got 500."),
        ({"strength_0": "lots"}, "Row 1: the strength must be a number; got &#x27;lots&#x27;."),
        ({"index_0": "1.5"}, "Row 1: the feature index must be a whole number"),
        ({"source_0": "nope"}, "Row 1: choose one of tiny-gpt2&#x27;s sources."),
        ({"temperature": "3"}, "Temperature must be between 0 and 2; got 3."),
        ({"max_new_tokens": "100"}, "Tokens to generate must be between 1 and 64; got 100."),
        ({"index_0": "40"}, "1-res has features 0 to 39; there is no feature 40."),
        ({"prompt": ""}, "Enter some prompt: it is empty."),
    ],
)
def test_bad_steering_requests_are_a_400_with_the_message(gpt2_run, client, change, message):
    data = {"prompt": "The cat", "temperature": "0.7", "max_new_tokens": "8", "seed": "0"}
    data.update({"source_0": "1-res", "index_0": "3", "strength_0": "5"}, **change)
    response = client.post("/steer/tiny-gpt2/", data)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_steering_an_encoder_is_refused_on_the_page(computed_run, client):
    data = {"prompt": "The cat", "source_0": "0-mlp", "index_0": "1", "strength_0": "5"}
    response = client.post("/steer/tiny-bert/", data)
    assert response.status_code == 400 and "Steering needs a causal language model" in response.content.decode()


def test_the_model_page_links_to_the_text_page_and_to_steering_where_it_can_run(computed_run, gpt2_run, client):
    content = client.get("/tiny-bert/").content.decode()
    assert 'href="/text-features/tiny-bert/"' in content and 'href="/steer/tiny-bert/"' not in content
    assert "cannot be steered" in content
    content = client.get("/tiny-gpt2/").content.decode()
    assert 'href="/text-features/tiny-gpt2/"' in content and 'href="/steer/tiny-gpt2/"' in content


@pytest.mark.parametrize("slug", ["text-features", "steer"])
def test_the_new_pages_cannot_be_shadowed_by_a_model(slug, tiny_bert_dir, db):
    from features.pipeline.errors import PipelineInputError

    with pytest.raises(PipelineInputError, match="reserved"):
        registration.model_register(slug=slug, path=str(tiny_bert_dir))


def test_the_steering_page_of_an_encoder_says_why_before_anyone_fills_it_in(computed_run, client):
    content = client.get("/steer/tiny-bert/").content.decode()

    assert "tiny-bert (bert) has no language-model head" in content
    assert 'class="inference-form steering-form"' not in content
