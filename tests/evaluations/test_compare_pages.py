"""The quality section of a source page, the comparison page of a hook, and the metrics API route, on stored
figures (the figures themselves are tested against brute force and sae-lens in test_metrics.py)."""

import re

import pytest

from evaluations.models import SourceEvaluation
from evaluations.selectors import interpretability, sample_best_explanations
from features.models import Feature, LanguageModel, PipelineRun, Source

from ..features.wiki_data import add_explanation

pytestmark = pytest.mark.django_db

HOOK = "blocks.1.hook_resid_pre"


def quality(l0: float, variance: float, **more) -> dict:
    return {
        "tokens": 1000,
        "l0": l0,
        "explained_variance": variance,
        "fvu": 1 - variance,
        "mse": 0.1,
        "cosine": 0.9,
        "shrinkage": 0.95,
        "dead_fraction": 0.05,
        "dense_fraction": 0.0,
        "reconstructed_tokens": 500,
        "l0_histogram": {"edges": [0, 5, 10], "counts": [300, 700]},
        "log_density_histogram": {"edges": [-8 + i / 4 for i in range(33)], "counts": [0] * 30 + [3, 1], "dead": 1},
        **more,
    }


@pytest.fixture
def dictionaries():
    model = LanguageModel.objects.create(
        slug="tiny-gpt2", display_name="Tiny", path="", architecture="gpt2", n_layers=2, d_model=32, d_mlp=128,
        vocab_size=100,
    )  # fmt: skip

    def source(slug, architecture, **config):
        return Source.objects.create(
            model=model, slug=slug, kind="sae", hook_name=HOOK, layer=1, set_name="res", n_features=40,
            dictionary_path="/x", config={"architecture": architecture, **config},
        )  # fmt: skip

    run = PipelineRun.objects.create(kind="evaluation", model=model, status="succeeded")
    sparse = source("1-res-topk", "topk")
    SourceEvaluation.objects.create(
        source=sparse, run=run, corpus="builtin:mix", n_windows=4, window_len=16, tokens=1000,
        metrics=quality(8.0, 0.80, delta_loss=0.30, loss_recovered=0.7, ce_loss_clean=3.0, ce_loss_spliced=3.3,
                        ce_loss_ablated=4.0, kl_spliced=0.2),
    )  # fmt: skip
    dense = source("1-res-std", "standard")
    SourceEvaluation.objects.create(
        source=dense, run=None, corpus="builtin:mix", n_windows=4, window_len=16, tokens=1000,
        metrics=quality(20.0, 0.90, delta_loss=0.10, loss_recovered=0.9),
    )  # fmt: skip
    dominated = source("1-res-bad", "standard", quality=quality(25.0, 0.70))  # pass figures only
    unmeasured = source("1-res-new", "jumprelu")
    Source.objects.create(
        model=model, slug="1-mlp", kind="neurons", hook_name="blocks.1.mlp.hook_post", layer=1, set_name="mlp",
        n_features=128,
    )  # fmt: skip
    return model, sparse, dense, dominated, unmeasured


def test_the_comparison_page_tables_and_charts_every_dictionary_on_the_hook(client, dictionaries):
    model, sparse, dense, dominated, unmeasured = dictionaries
    response = client.get(f"/compare/tiny-gpt2/{HOOK}/")
    assert response.status_code == 200
    page = response.content.decode()
    for source in (sparse, dense, dominated, unmeasured):
        assert f'href="/tiny-gpt2/{source.slug}/"' in page
    assert "1-mlp" not in page  # neurons are not dictionaries
    assert "not measured yet" in page  # the new one
    # two charts: explained variance (three dictionaries) and delta loss (the two evaluated ones)
    assert page.count('<figure class="frontier-chart">') == 2
    on_frontier = page.count('class="on-frontier"')
    off_frontier = page.count('class="off-frontier"')
    assert (on_frontier, off_frontier) == (2 + 2, 1)  # the bad one is beaten by the standard one on both
    dot_links = re.findall(r'<a href="(/tiny-gpt2/[^"]+/)"><title>', page)
    charted = [sparse, dense, dominated] + [sparse, dense]  # the variance chart's dots, then the loss chart's
    assert sorted(dot_links) == sorted(f"/tiny-gpt2/{source.slug}/" for source in charted)


def test_an_unknown_hook_or_model_is_a_404_that_names_the_hooks_with_dictionaries(client, dictionaries):
    response = client.get("/compare/tiny-gpt2/blocks.0.hook_resid_pre/")
    assert response.status_code == 404
    assert f"/compare/tiny-gpt2/{HOOK}/" in response.content.decode()
    assert client.get(f"/compare/nope/{HOOK}/").status_code == 404
    index = client.get("/compare/tiny-gpt2/")
    assert index.status_code == 200 and f"/compare/tiny-gpt2/{HOOK}/" in index.content.decode()


def test_the_source_page_shows_the_figures_with_their_meaning_and_links_the_comparison(client, dictionaries):
    model, sparse, dense, dominated, unmeasured = dictionaries
    page = client.get("/tiny-gpt2/1-res-topk/").content.decode()
    assert "Quality" in page and "Delta loss" in page and "0.3000" in page
    assert "How much the model&#x27;s next-token loss rises" in page
    assert f'href="/compare/tiny-gpt2/{HOOK}/"' in page
    assert page.count("<rect") >= 2 + 2  # both histograms drawn
    passed = client.get("/tiny-gpt2/1-res-bad/").content.decode()
    assert "Measured in activation run" in passed and "evaluate_source tiny-gpt2/1-res-bad" in passed
    assert "Delta loss" not in passed
    assert "Not measured yet" in client.get("/tiny-gpt2/1-res-new/").content.decode()
    assert "Quality" not in client.get("/tiny-gpt2/1-mlp/").content.decode()
    model_page = client.get("/tiny-gpt2/").content.decode()
    assert f'href="/compare/tiny-gpt2/{HOOK}/"' in model_page


def test_the_metrics_route_serves_the_figures(client, dictionaries):
    body = client.get("/api/v1/models/tiny-gpt2/sources/1-res-topk/metrics/").json()
    assert body["measured"] and body["origin"] == "evaluation" and body["metrics"]["delta_loss"] == 0.30
    assert "explained_variance" in body["meanings"]
    passed = client.get("/api/v1/models/tiny-gpt2/sources/1-res-bad/metrics/").json()
    assert passed["origin"] == "activation_run" and passed["run"] is None
    assert client.get("/api/v1/models/tiny-gpt2/sources/1-res-new/metrics/").json()["measured"] is False
    assert client.get("/api/v1/models/tiny-gpt2/sources/nope/metrics/").status_code == 404


def test_interpretability_averages_the_fixed_samples_best_explanations(dictionaries):
    _, sparse, *_ = dictionaries
    sample = list(sample_best_explanations(sparse, sample_size=4))
    features = {index: Feature.objects.create(source=sparse, index=index) for index in range(40)}
    add_explanation(features[sample[0]], "cats", best_score=0.9, scores=(("detection", 0.8), ("fuzzing", 0.6)))
    add_explanation(features[sample[0]], "worse", best_score=0.1, scores=(("detection", 0.1),))
    add_explanation(features[sample[1]], "dogs", best_score=0.5, scores=(("detection", 0.6),))
    outside = next(index for index in range(40) if index not in sample)
    add_explanation(features[outside], "not sampled", best_score=1.0, scores=(("detection", 0.0),))
    figures = interpretability(sparse, sample_size=4)
    assert (figures.sample_size, figures.explained, figures.unscored) == (4, 2, 1)
    assert figures.scores["detection"].mean == pytest.approx(0.7) and figures.scores["detection"].n == 2
    assert figures.scores["fuzzing"].mean == pytest.approx(0.6)


def test_an_encoders_loss_columns_say_the_loss_does_not_apply(client, dictionaries):
    model, sparse, dense, dominated, unmeasured = dictionaries
    # An evaluation of a model without a next-token head stores loss_applies false (test_metrics.py).
    SourceEvaluation.objects.create(
        source=unmeasured, corpus="builtin:mix", n_windows=4, window_len=16, tokens=1000,
        metrics=quality(12.0, 0.85, loss_applies=False), loss_refusal="bert has no next-token head",
    )  # fmt: skip
    page = client.get(f"/compare/tiny-gpt2/{HOOK}/").content.decode()
    assert page.count("does not apply") == 1  # the encoder's row; the pass-only row is still not measured
    assert "not measured</span>" in page
    assert "Delta loss does not apply here" not in page  # other rows have the loss: the chart is drawn
    SourceEvaluation.objects.exclude(source=unmeasured).delete()
    Source.objects.filter(pk=dominated.pk).update(config={"architecture": "standard"})  # no pass figures either
    page = client.get(f"/compare/tiny-gpt2/{HOOK}/").content.decode()
    assert "Delta loss does not apply here" in page and page.count('<figure class="frontier-chart">') == 1


def test_an_encoders_source_page_says_no_loss_applies_instead_of_asking_for_an_evaluation(client, dictionaries):
    model, sparse, dense, dominated, unmeasured = dictionaries
    Source.objects.filter(pk=dominated.pk).update(config={"quality": quality(25.0, 0.70, loss_applies=False)})
    page = client.get("/tiny-gpt2/1-res-bad/").content.decode()
    assert "has no next-token head" in page and "evaluate_source" not in page
