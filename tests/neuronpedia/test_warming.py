"""Warming: a starting web server or task worker loads the models in the background, so that the first
click does not wait for a checkpoint; tests and other commands never do, and a failing warmer stops nothing."""

import importlib
import threading

import pytest

from neuronpedia import warming

CALLED = []


def good_warmer() -> None:
    CALLED.append("good")


def broken_warmer() -> None:
    raise OSError("no checkpoint here")


@pytest.fixture
def only_test_warmers(monkeypatch):
    monkeypatch.setattr(warming, "_warmers", {})
    monkeypatch.setattr(warming, "_thread", None)
    CALLED.clear()


def test_the_apps_register_the_language_models_the_search_encoder_and_the_word_vectors_after_the_pages():
    assert list(warming._warmers.items()) == [
        ("pages", "neuronpedia.warming.pages_warm"),
        ("language models", "features.inference.models_warm"),
        ("search encoder", "explanations.core.embeddings.warm"),
        ("semantic word vectors", "scoring.core.semantic.warm"),
    ]


def test_a_failing_warmer_is_logged_and_the_others_still_run(only_test_warmers, caplog):
    warming.register("broken", f"{__name__}.broken_warmer")
    warming.register("good", f"{__name__}.good_warmer")

    took = warming.warm_now()

    assert CALLED == ["good"] and set(took) == {"good"}
    assert "Warming broken failed" in caplog.text


def test_nothing_warms_when_the_setting_is_off(only_test_warmers, settings):
    settings.NEURONPEDIA_WARM = False
    warming.register("good", f"{__name__}.good_warmer")

    assert warming.warm_in_background() is None
    assert CALLED == []


def test_loading_the_wsgi_application_warms_once_in_a_background_thread(only_test_warmers, settings, monkeypatch):
    settings.NEURONPEDIA_WARM = True
    started = threading.Event()
    monkeypatch.setattr(warming, "warm_now", lambda: started.set())

    import neuronpedia.wsgi

    importlib.reload(neuronpedia.wsgi)
    thread = warming._thread
    thread.join(timeout=10)

    assert started.is_set() and thread.daemon and thread.name == "neuronpedia-warming"
    assert warming.warm_in_background() is thread  # once per process


def test_a_spawning_task_worker_warms(only_test_warmers, settings, monkeypatch):
    from django_q.signals import post_spawn

    settings.NEURONPEDIA_WARM = True
    started = threading.Event()
    monkeypatch.setattr(warming, "warm_now", lambda: started.set())

    post_spawn.send(sender="django_q", proc_name="Worker-1")

    assert started.wait(timeout=10)


def test_warming_the_pages_compiles_the_templates_a_first_request_needs():
    assert warming.pages_warm() > 50


@pytest.mark.slow
def test_warming_loads_each_runnable_model_so_that_a_request_finds_it_loaded(computed_run, monkeypatch):
    from features import inference
    from features.pipeline import cache

    cache.models.clear()

    warmed = inference.models_warm()

    assert warmed == ["tiny-bert/0-mlp", "tiny-bert/2-mlp"]

    def no_load(path, **options):
        raise AssertionError(f"{path} was loaded again")

    monkeypatch.setattr(cache.models, "_load", no_load)
    feature = computed_run.model.sources.get(slug="2-mlp").features.order_by("index").first()
    assert inference.feature_activations(feature, "Return the list.").tokens
