"""Held-out pools: a round reads the feature's stored windows and values instead of running its model, the
stored values are the model's, and a pool that is missing, stale or no longer held out is computed again,
never used wrong."""

import pytest
from django.core.management import call_command

from features import inference
from features.models import ActivationExample, Feature, pack_floats
from gameplay.core.held_out import SPECIAL, held_out_choice, normalised_tokens, pack_pool, unpack_pool
from gameplay.core.predict import scale_to_ten
from gameplay.models import HeldOutPool
from gameplay.services.held_out import held_out_pools_compute

from .conftest import MAX_ACTIVATION, build_toy_feature, items_of, login, make_player, round_of, toy_live_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def inference_calls(monkeypatch):
    """Every window the (toy) live inference is asked about, by feature."""
    calls = []
    fake = inference.feature_activations_on_windows

    def counting(feature, windows, **options):
        calls.append((feature.pk, len(windows)))
        return fake(feature, windows, **options)

    monkeypatch.setattr(inference, "feature_activations_on_windows", counting)
    return calls


def start_predict(client, feature):
    response = client.post("/play/predict/", {"feature": feature.pk})
    assert response.status_code == 302, response.content[:300]
    return round_of(response)


def assert_cards_are_live_truth(round_obj):
    for item in items_of(round_obj):
        live = toy_live_values(item.window.tokens)
        assert item.values == [scale_to_ten(v, MAX_ACTIVATION) for v in live]
        assert item.truth == scale_to_ten(live[item.marked], MAX_ACTIVATION)


# --- Through the views ------------------------------------------------------------------------------


def test_the_first_round_stores_the_pool_and_the_next_runs_no_model(player, toy_feature, inference_calls):
    client = login(player)

    first = start_predict(client, toy_feature)
    calls_after_first = len(inference_calls)
    second = start_predict(client, toy_feature)

    assert calls_after_first == 1 and len(inference_calls) == 1
    pool = HeldOutPool.objects.get(feature=toy_feature)
    shown = set(ActivationExample.objects.filter(feature=toy_feature).values_list("window_id", flat=True))
    assert pool.window_ids and not shown & set(pool.window_ids)
    assert {item.window_id for item in items_of(second)} <= set(pool.window_ids)
    assert_cards_are_live_truth(first)
    assert_cards_are_live_truth(second)


def test_a_pool_of_other_weights_is_not_used_but_computed_again(player, toy_feature, inference_calls):
    client = login(player)
    start_predict(client, toy_feature)
    pool = HeldOutPool.objects.get(feature=toy_feature)
    # Planted wrong values under another checkpoint's name: they must never reach a card.
    lengths = [len(w.token_ids) for w in toy_feature.source.model.windows.filter(pk__in=pool.window_ids)]
    pool.values = pack_pool([[9.0] * n for n in lengths], [[True] * n for n in lengths])
    pool.fingerprint = "/some/other/checkpoint|blocks.0.mlp.hook_post|"
    pool.save()

    again = start_predict(client, toy_feature)

    assert len(inference_calls) == 2
    assert_cards_are_live_truth(again)
    assert HeldOutPool.objects.get(feature=toy_feature).fingerprint.startswith(toy_feature.source.model.path)


def test_windows_the_feature_page_shows_by_now_are_never_cards(player, toy_feature, inference_calls):
    client = login(player)
    start_predict(client, toy_feature)
    pool = HeldOutPool.objects.get(feature=toy_feature)
    # A recomputed dashboard now shows one of the pool's windows on the feature's page.
    now_shown = pool.window_ids[0]
    ActivationExample.objects.create(
        feature=toy_feature, window_id=now_shown, kind="interval", rank=9, values=pack_floats([0.0]),
        max_value=0.0, max_token_index=0, interval_index=1,
    )  # fmt: skip

    rounds = [start_predict(client, toy_feature) for _ in range(3)]

    assert all(item.window_id != now_shown for round_obj in rounds for item in items_of(round_obj))
    assert now_shown not in HeldOutPool.objects.get(feature=toy_feature).window_ids
    for round_obj in rounds:
        assert_cards_are_live_truth(round_obj)


def test_verify_cards_come_from_the_stored_pool_too(player, alice_explanation, inference_calls):
    client = login(player)
    feature = alice_explanation.feature

    for _ in range(2):
        response = client.post("/play/verify/", {"explanation": alice_explanation.pk})
        assert response.status_code == 302, response.content[:300]
        cards = [item for item in items_of(round_of(response)) if not item.is_gold]
        for item in cards:
            live = toy_live_values(item.window.tokens)
            assert item.truth == scale_to_ten(live[item.marked], MAX_ACTIVATION)
            assert item.label == (live[item.marked] > 0.1 * MAX_ACTIVATION)

    assert inference_calls == [(feature.pk, inference_calls[0][1])]  # the first round only


def test_a_feature_whose_model_cannot_run_is_still_refused_with_a_message(player):
    gone = build_toy_feature(slug="gone")
    gone.source.model.path = "/no/such/checkpoint"
    gone.source.model.save()

    response = login(player).post("/play/predict/", {"feature": gone.pk}, follow=True)

    assert "cannot be played right now" in response.content.decode()
    assert not HeldOutPool.objects.exists()


# --- A whole source at once, on a real (tiny) model ------------------------------------------------------


@pytest.fixture
def tiny_run(db, tiny_bert_dir, sample_corpus_file):
    """The tiny BERT's layer 2 over enough windows for rounds (as the Predict test of a real model runs it)."""
    from features.services import activation_runs

    run = activation_runs.activation_run_create(
        model_path=str(tiny_bert_dir), model_slug="tiny-bert", layers=[2], corpus=str(sample_corpus_file),
        n_windows=36, window_len=16, top_k=4, sync=True,
    )  # fmt: skip
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == "succeeded", run.error
    return run


@pytest.mark.slow
def test_a_sources_pools_hold_the_models_values_and_rounds_then_run_no_model(tiny_run, monkeypatch):
    source = tiny_run.model.sources.get(slug="2-mlp")

    stored = held_out_pools_compute(sources=[source])

    playable = Feature.objects.filter(source=source, max_activation__gt=0, examples__kind="top").distinct()
    assert stored == playable.count() > 0
    assert held_out_pools_compute(sources=[source]) == 0  # done once
    all_windows = set(source.model.windows.values_list("pk", flat=True))
    checked = 0
    for pool in (
        HeldOutPool.objects.filter(feature__source=source)
        .select_related("feature__source__model")
        .order_by("feature__index")
    ):
        shown = set(ActivationExample.objects.filter(feature=pool.feature).values_list("window_id", flat=True))
        if not pool.window_ids:
            # Only a feature whose page shows every one of the tiny corpus's windows has none left to hold out.
            assert shown == all_windows
            continue
        if checked == 6:
            continue
        checked += 1
        windows = source.model.windows.in_bulk(pool.window_ids)
        assert not shown & set(pool.window_ids)
        rows = unpack_pool(pool.values, [len(windows[pk].token_ids) for pk in pool.window_ids])
        for pk, (values, content) in zip(pool.window_ids, rows, strict=True):
            live = inference.feature_activations_on_windows(pool.feature, [list(windows[pk].token_ids)])[0]
            assert content == live.content
            assert values == pytest.approx([max(v, 0.0) for v in live.values], abs=1e-5)
    assert checked == 6

    def no_model(*args, **kwargs):
        raise AssertionError("a round ran the model although the pool was stored")

    monkeypatch.setattr(inference, "feature_activations_on_windows", no_model)
    feature = playable.order_by("-density").first()
    client = login(make_player("pooled"))
    round_obj = start_predict(client, feature)
    monkeypatch.undo()
    for item in items_of(round_obj):
        live = inference.feature_activations_for_token_ids(feature, list(item.window.token_ids))
        assert item.values == pytest.approx([scale_to_ten(v, feature.max_activation) for v in live], abs=0.11)
        assert item.truth == pytest.approx(scale_to_ten(live[item.marked], feature.max_activation), abs=0.11)


@pytest.mark.slow
def test_the_command_stores_every_source_and_skips_models_that_cannot_run(computed_run, capsys):
    build_toy_feature(slug="toy")  # its checkpoint is not on disk

    call_command("held_out_pools")

    out = capsys.readouterr().out
    stored = HeldOutPool.objects.filter(feature__source__model__slug="tiny-bert")
    assert f"tiny-bert: {stored.count()} held-out pools stored over 2 sources" in out
    assert "toy: skipped" in out
    assert {pool.feature.source.slug for pool in stored} == {"0-mlp", "2-mlp"}
    assert not HeldOutPool.objects.filter(feature__source__model__slug="toy").exists()


# --- The pure core -------------------------------------------------------------------------------------


def test_a_packed_pool_keeps_each_windows_values_and_special_tokens():
    values = [[0.0, 1.5, -0.2, 0.0], [0.0, 3.25, 0.0]]
    content = [[False, True, True, False], [False, True, False]]

    rows = unpack_pool(pack_pool(values, content), [4, 3])

    assert rows == [([0.0, 1.5, 0.0, 0.0], content[0]), ([0.0, 3.25, 0.0], content[1])]
    assert SPECIAL < 0
    with pytest.raises(ValueError):
        unpack_pool(pack_pool(values, content), [4, 4])


def test_held_out_windows_take_keyed_ones_first_up_to_two_thirds():
    windows = [["the", "dog"], ["a", "cat"], ["sun"], ["Cat", "s"], ["rain"], ["##cat"], ["tree"]]

    chosen = held_out_choice([normalised_tokens(w) for w in windows], ["cat"], size=3)
    short_of_plain = held_out_choice([{"cat"}, {"cat"}, {"cat"}, {"dog"}], ["cat"], size=3)

    assert chosen == [1, 3, 0]
    assert short_of_plain == [0, 1, 3]
