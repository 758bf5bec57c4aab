"""What the Explain reveal says the judge understood, the camp judged by its planted rules, and which judge
the game uses (the best one configured, falling back to the offline one when it cannot be used)."""

import pytest

from gameplay.core import camp
from gameplay.core.explain import PREDICTS_FIRING, judge_readout, score_explain_answer
from gameplay.models import PlayerProfile, Round
from gameplay.services.judging import game_judge_build, game_judge_name
from scoring.core.judges import LiteralJudge, OracleJudge
from scoring.core.offline_judges import DEFAULT_JUDGE, default_offline_judge
from scoring.core.records import ActivationRecord

from .conftest import login

COLOUR = camp.BY_SLUG["colour-cat"]
NEGATION = camp.BY_SLUG["not-negated"]
NEGATION_ANSWER = "the word good, except when preceded by not, never or no"


def _rung_outcome(rung, text, judge=None):
    examples = camp.rung_example_set(rung, seed=camp.RUNGS.index(rung))
    return score_explain_answer(text, examples, judge=judge, planted=rung.rule.fires)


def test_the_readout_counts_hits_misses_and_false_alarms_per_word_as_brute_force_does():
    records = [
        ActivationRecord(tokens=("the", "red", "dog", "and", "teal", "sky"), activations=(0, 5, 0, 0, 3, 0)),
        ActivationRecord(tokens=("red", "dog", "red"), activations=(2, 0, 0)),
        ActivationRecord(tokens=("a", "b"), activations=(0, 0)),
    ]
    judge = OracleJudge({"red and dog": lambda tokens, i: tokens[i] in {"red", "dog"}})

    readout = judge_readout(judge, "red and dog", records, lambda record: [v > 0 for v in record.activations])

    assert dict(readout.fired_on) == {"red": 2}
    assert dict(readout.missed) == {"teal": 1}
    assert dict(readout.false_alarms) == {"dog": 2, "red": 1}
    assert (readout.hits, readout.misses, readout.false_alarm_count) == (2, 1, 3)
    # Window overlaps: 1 of {red, dog, teal}; 1 of {red, dog, red}; the silent, unpredicted window is left out.
    assert readout.window_overlaps == pytest.approx((1 / 3, 1 / 3))
    assert readout.overlap == pytest.approx(1 / 3)


def test_no_good_came_of_it_is_not_a_window_where_the_negation_answer_predicts_firing():
    judge = default_offline_judge()
    (simulated,) = judge.simulate(NEGATION_ANSWER, [["no", "good", "came", "of", "it", "."]])
    (affirmed,) = judge.simulate(NEGATION_ANSWER, [["a", "good", "day", "."]])

    assert max(simulated) < PREDICTS_FIRING <= affirmed[1]
    outcome = _rung_outcome(NEGATION, NEGATION_ANSWER)
    assert outcome.headline == 1.0 and not outcome.readout.false_alarms and not outcome.readout.missed
    assert dict(outcome.readout.fired_on) == {"good": outcome.readout.hits}


def test_cats_does_not_pass_the_colour_rung_and_the_readout_says_it_fired_on_the_silent_cats():
    cats = _rung_outcome(COLOUR, "cats")
    right = _rung_outcome(COLOUR, COLOUR.explanation)

    assert cats.headline < camp.RUNG_PASS <= right.headline == 1.0
    assert "cat" in dict(cats.readout.false_alarms) and "cat" in dict(cats.readout.fired_on)
    assert not right.readout.false_alarms and not right.readout.missed


@pytest.mark.parametrize("rung", camp.RUNGS, ids=lambda rung: rung.slug)
def test_each_rung_passes_its_planted_rule_and_fails_its_context_blind_reading(rung):
    # The literal judge reads both explanations exactly, so this checks the camp's scoring, not a judge.
    judge = LiteralJudge()
    right = _rung_outcome(rung, rung.explanation, judge)
    blind = _rung_outcome(rung, rung.rule.blind_explanation, judge)

    assert right.headline == 1.0 and right.planted_match == 1.0
    assert blind.headline < camp.RUNG_PASS


def test_the_game_judge_is_the_default_offline_one_unless_another_is_configured(settings, tmp_path):
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.LOCAL_EXPLAINER_MODEL_PATH = (
        "",
        "https://api.openai.com/v1",
        "",
    )
    assert game_judge_name() == DEFAULT_JUDGE
    assert game_judge_build().judge.name == DEFAULT_JUDGE

    settings.LOCAL_EXPLAINER_MODEL_PATH = str(tmp_path / "missing")
    assert game_judge_name() == "local-transformers"
    fallback = game_judge_build()
    assert fallback.judge.name == DEFAULT_JUDGE and "local-transformers" in fallback.note

    settings.OPENAI_API_KEY = "sk-test"
    assert game_judge_name() == "openai-compatible"
    settings.GAME_JUDGE = "literal"
    assert game_judge_build().judge.name == "literal"


@pytest.mark.django_db
def test_the_camp_result_page_says_what_the_judge_understood_and_the_placeholder_gives_nothing_away(rookie):
    PlayerProfile.objects.filter(user=rookie).update(camp_scores={camp.RUNGS[0].slug: 1.0})
    client = login(rookie)
    form = client.get(f"/play/camp/{COLOUR.slug}/explain/").content.decode()
    placeholder = form.split('placeholder="', 1)[1].split('"', 1)[0].lower()
    for rung in camp.RUNGS:
        assert not any(word in placeholder for word in rung.key_words) and rung.explanation not in placeholder
    assert "colour" not in placeholder and "cat" not in placeholder

    client.post(f"/play/camp/{COLOUR.slug}/explain/", {"text": "cats", "token": "t"})

    round_obj = Round.objects.get(user=rookie, mode="camp-explain")
    assert round_obj.skill == pytest.approx(round_obj.details["planted_match"], abs=1e-4)
    assert round_obj.skill < camp.RUNG_PASS
    assert PlayerProfile.objects.get(user=rookie).camp_scores[COLOUR.slug] == pytest.approx(round_obj.skill)
    html = client.get(round_obj.get_absolute_url()).content.decode()
    assert "What the judge understood" in html and "Your explanation fired on" in html
    false_alarms = html.split("False alarms", 1)[1].split("</dd>", 1)[0]
    assert '<span class="readout-word">cat</span>' in false_alarms


@pytest.mark.django_db
def test_an_llm_judge_that_cannot_be_reached_gives_way_to_the_offline_one_and_the_page_says_so(
    player, toy_feature, settings
):
    # A real client against a closed port: the endpoint is down, as an outage would be.
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.OPENAI_MAX_RETRIES = "http://127.0.0.1:9/v1", "k", 0
    settings.OPENAI_TIMEOUT_S = 2
    client = login(player)

    response = client.post(
        f"/play/explain/{toy_feature.pk}/", {"text": "the word cat right after a colour word", "token": "x"}
    )

    assert response.status_code == 302
    round_obj = Round.objects.get(user=player, mode="explain")
    assert round_obj.details["judge"] == DEFAULT_JUDGE and "failed" in round_obj.details["judge_note"]
    html = client.get(round_obj.get_absolute_url()).content.decode()
    assert "scored offline" in html and "Your explanation fired on" in html
    assert '<span class="readout-word">cat</span>' in html.split("Your explanation fired on", 1)[1].split("</dd>", 1)[0]
