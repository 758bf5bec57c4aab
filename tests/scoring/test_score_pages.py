"""The feature page's scores, the score breakdown page, and the Generate and Score buttons."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils.html import escape

from explanations.models import Explanation
from explanations.services import explanations as explanation_services
from features.models import ContextWindow, Feature, PipelineRun
from scoring.models import ExplanationScore

pytestmark = pytest.mark.django_db

SCORERS = ["simulation", "fuzzing", "embedding", "rule"]


@pytest.fixture(autouse=True)
def runs_inline(settings):
    """Runs queued from the web run in the request, through django-q2's sync mode; a clean rate count."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def feature(computed_run) -> Feature:
    return (
        Feature.objects.select_related("source__model")
        .filter(source__slug="0-mlp", max_activation__gt=0)
        .order_by("index")
        .first()
    )


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw")


def generate_url(feature: Feature) -> str:
    return reverse("scoring:feature-generate", args=[feature.source.model.slug, feature.source.slug, feature.index])


def test_an_anonymous_post_is_sent_to_log_in_and_queues_nothing(client, feature):
    explanation = explanation_services.explanation_create(
        feature=feature, text="the word cat", method="token-stats", embed=False
    )
    for url in (generate_url(feature), reverse("scoring:explanation-score", args=[explanation.pk])):
        response = client.post(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    htmx = client.post(generate_url(feature), headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx["HX-Redirect"].startswith(reverse("account_login"))
    assert not PipelineRun.objects.filter(kind__in=["explanations", "scoring"]).exists()


def test_generate_explains_and_scores_the_feature_once(client, alice, feature):
    client.force_login(alice)
    response = client.post(generate_url(feature), {"explainer": "token-stats"})

    run = PipelineRun.objects.get(kind="explanations")
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.status == "succeeded" and run.created_by == alice, run.error
    explanation = Explanation.objects.get(feature=feature)
    assert explanation.generated and explanation.method == "token-stats" and explanation.author is None
    scorers = set(ExplanationScore.objects.filter(explanation=explanation).values_list("scorer", flat=True))
    assert {"simulation", "fuzzing"} <= scorers
    # The tiny random model's neurons fire in every window, so the window-level scorers say they cannot
    # score it; that is recorded on the run, and the token-level scores stand.
    if scorers != {"simulation", "fuzzing", "detection", "embedding"}:
        assert run.message.startswith("Succeeded with 1 failure") and "active and silent" in run.failures[0]["error"]

    page = client.get(feature.get_absolute_url()).content.decode()
    fuzzing = ExplanationScore.objects.get(explanation=explanation, scorer="fuzzing")
    assert f'href="{fuzzing.get_absolute_url()}"' in page
    assert f'<abbr title="{escape(fuzzing.meaning)}">fuzzing {fuzzing.value:.3f}</abbr>' in page
    total, hard = sum(fuzzing.example_mix.values()), fuzzing.example_mix["hard_negatives"]
    assert fuzzing.meaning.startswith(
        f"fuzzing {fuzzing.value:.3f}: balanced accuracy of telling whether marked tokens are ones it fires on, "
        f"on {total} examples incl. {hard} hard negatives (judge: semantic"
    )
    assert fuzzing.meaning.endswith("; 0.5 = chance, 1 = perfect")

    again = client.post(generate_url(feature), {"explainer": "token-stats"})
    assert again.status_code == 302
    assert Explanation.objects.filter(feature=feature).count() == 1
    assert ExplanationScore.objects.filter(explanation=explanation).count() == len(scorers)
    run_page = client.get(PipelineRun.objects.filter(kind="explanations").first().get_absolute_url())
    assert "0 explanation(s) written, 0 score(s) written" in run_page.content.decode()


def test_generate_over_htmx_answers_with_the_run_progress(client, alice, feature):
    client.force_login(alice)
    response = client.post(generate_url(feature), {"explainer": "token-stats"}, headers={"HX-Request": "true"})
    run = PipelineRun.objects.get(kind="explanations")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="run-progress"' in html and f"run #{run.pk}" in html
    assert "<html" not in html


def test_an_explainer_the_site_cannot_run_is_refused_with_a_reason(client, alice, feature):
    client.force_login(alice)
    response = client.post(generate_url(feature), {"explainer": "local-transformers"})
    assert (
        response.status_code == 400
        and "cannot run the &#x27;local-transformers&#x27; explainer" in response.content.decode()
    )


def test_past_the_rate_limit_the_reply_is_a_friendly_429(client, alice, feature, settings):
    settings.WIKI_RATE_LIMITS = {**settings.WIKI_RATE_LIMITS, "generate": "1/h"}
    client.force_login(alice)
    assert client.post(generate_url(feature)).status_code == 302
    refused = client.post(generate_url(feature))
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Slow down a little: you can make 1 request to generate or score an explanation an hour" in (
        refused.content.decode()
    )
    htmx = client.post(generate_url(feature), headers={"HX-Request": "true"})
    assert htmx.status_code == 429 and htmx["HX-Retarget"] == "#wiki-notice" and "Slow down" in htmx.content.decode()


def test_score_scores_a_persons_explanation_with_its_rule(client, alice, feature):
    peak = feature.examples.filter(kind="top").select_related("window").order_by("rank").first()
    token = peak.window.tokens[peak.max_token_index].strip().lower()
    explanation = explanation_services.explanation_create(
        feature=feature, text=f'the word "{token}"', author=alice, rule_text=f"*{token}*"
    )
    client.force_login(alice)

    response = client.post(reverse("scoring:explanation-score", args=[explanation.pk]))

    run = PipelineRun.objects.get(kind="scoring")
    assert response.status_code == 302 and run.status == "succeeded", run.error
    scores = {score.scorer: score for score in ExplanationScore.objects.filter(explanation=explanation)}
    assert {"simulation", "fuzzing", "rule"} <= set(scores)
    assert scores["rule"].details["precision"] is not None
    explanation.refresh_from_db()
    assert explanation.best_score == max(score.value for score in scores.values())


def test_the_breakdown_page_shows_every_example_highlighted_and_what_the_judge_got_right(client, alice, feature):
    client.force_login(alice)
    client.post(generate_url(feature))
    score = ExplanationScore.objects.get(explanation__feature=feature, scorer="fuzzing")
    client.logout()

    response = client.get(score.get_absolute_url())

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="example ') == len(score.details["examples"])
    assert "Top example 1" in html and "Random window" in html
    assert "✓ right" in html and 'class="tok' in html and "background-color: rgba(" in html
    right = sum(row["correct"] for row in score.details["examples"])
    total = len(score.details["examples"])
    assert html.count("✓ right") == right and html.count("✗ wrong") == total - right

    simulation = ExplanationScore.objects.get(explanation__feature=feature, scorer="simulation")
    assert "Simulated:" in client.get(simulation.get_absolute_url()).content.decode()
    assert client.get(reverse("scoring:score", args=[score.explanation_id + 1000, score.pk])).status_code == 404


def test_a_failed_scoring_run_shows_its_failures_and_resumes_from_the_run_page(client, alice, feature):
    from scoring.services.runs import score_run_create

    explanation = explanation_services.explanation_create(
        feature=feature, text="the word cat", author=alice, embed=False
    )
    run, _ = score_run_create(explanation=explanation, scorers=["fuzzing"], created_by=alice)
    failure = {"feature": str(feature), "url": feature.get_absolute_url(), "error": "The LLM endpoint is down."}
    PipelineRun.objects.filter(pk=run.pk).update(
        status="failed", error="Stopped: the LLM endpoint is down.", failures=[failure], params={**run.params,
        "failed_count": 1, "stopped_on_failure": True},
    )  # fmt: skip
    client.force_login(alice)

    page = client.get(run.get_absolute_url()).content.decode()
    assert "<h2>Failures</h2>" in page and f'<a href="{feature.get_absolute_url()}">{feature}</a>' in page
    assert f'action="/runs/{run.pk}/resume/"' in page

    response = client.post(f"/runs/{run.pk}/resume/")

    run.refresh_from_db()
    assert response.status_code == 302 and run.status == "succeeded", run.error
    assert run.failures == [] and ExplanationScore.objects.filter(explanation=explanation, scorer="fuzzing").exists()


def test_the_breakdown_of_a_dense_feature_shows_each_span_in_its_window(client, alice, feature):
    """A dense feature is scored on spans cut from its windows (scoring/core/examples.py); the breakdown page
    shows each span's own tokens, found again in the stored window from where it starts."""
    from scoring.core.examples import SPAN_TOKENS, build_example_set
    from scoring.core.judges import OracleJudge
    from scoring.core.records import ActivationRecord
    from scoring.core.scorers import get_scorer
    from scoring.stored_examples import _shown

    def stored(tag: str, position: int, active: dict[int, float]) -> tuple[ContextWindow, ActivationRecord]:
        tokens = [f"{tag}t{i}z" for i in range(64)]
        window = ContextWindow.objects.create(
            model=feature.source.model, corpus_key="dense", position=position, token_ids=list(range(64)), tokens=tokens
        )
        return window, ActivationRecord(tokens, [active.get(i, 0.0) for i in range(64)])

    top = [stored(f"top{i}", i, {40: 10.0, 3: 2.0}) for i in range(3)]
    random_windows = [stored(f"rand{i}", 10 + i, {5: 2.0}) for i in range(4)]
    example_set = build_example_set(top=[r for _, r in top], random_records=[r for _, r in random_windows])
    window_of = {record.tokens: window.pk for window, record in [*top, *random_windows]}
    judge = OracleJudge({"the fortieth token": lambda tokens, i: tokens[i].endswith("t40z")})
    result = get_scorer("detection").score("the fortieth token", example_set, judge=judge)
    result.details["shown"] = _shown(example_set, window_of)
    explanation = explanation_services.explanation_create(feature=feature, text="the fortieth token", author=alice)
    score = ExplanationScore.from_result(result, explanation=explanation, revision=explanation.current_revision)
    score.save()

    html = client.get(score.get_absolute_url()).content.decode()

    assert result.example_mix["span_tokens"] == SPAN_TOKENS and result.value == 1.0
    assert html.count('class="example ') == 7 and "The windows of" not in html
    assert "<dt>Span tokens</dt><dd>32</dd>" in html and "<dt>Hard negatives</dt>" in html
    assert "top0t24z" in html and "top0t55z" in html, "the span centred on the peak at 40"
    assert html.count("(tokens 25–56 of 64 in its window)") == 3 and "(tokens 7–38 of 64 in its window)" in html
    assert "top0t23z" not in html and "top0t56z" not in html and "top0t3z" not in html
    assert "rand0t6z" in html and "rand0t37z" in html and "rand0t5z" not in html, "the first silent stretch"
