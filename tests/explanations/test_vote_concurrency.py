"""Votes stay exact under concurrency: many threads, each with its own database connection, voting on one
explanation at once. Runs on PostgreSQL (CI runs the suite there too); SQLite serialises every write
transaction, so it has no race to show."""

import threading

import pytest
from django.db import connection

from explanations.models import Explanation, Vote
from explanations.services import explanations as explanation_services
from explanations.services import votes as vote_services

from .conftest import make_user

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks under concurrency need PostgreSQL")


def run_concurrently(actions) -> list[BaseException]:
    """Start every action at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action):
        try:
            barrier.wait()
            action()
        except BaseException as error:  # noqa: BLE001 - collected and asserted on below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture
def explanation(transactional_db):
    from features.models import Feature, LanguageModel, Source

    model = LanguageModel.objects.create(
        slug="tiny", display_name="tiny", path="/x", architecture="bert", n_layers=1, d_model=4, d_mlp=8, vocab_size=9
    )
    source = Source.objects.create(
        model=model, slug="0-mlp", kind="neurons", hook_name="blocks.0.mlp.hook_post", layer=0, set_name="mlp",
        n_features=8,
    )  # fmt: skip
    feature = Feature.objects.create(source=source, index=0)
    return explanation_services.explanation_create(feature=feature, text="cat", method="token-stats", embed=False)


def test_fifty_threads_voting_at_once_give_exactly_the_right_total(explanation):
    voters = [make_user(f"voter{number}") for number in range(50)]
    values = [1 if number % 5 else -1 for number in range(50)]  # 40 up, 10 down

    errors = run_concurrently(
        [
            lambda user=user, value=value: vote_services.vote_cast(user=user, explanation=explanation, value=value)
            for user, value in zip(voters, values, strict=True)
        ]
    )

    assert errors == []
    assert Explanation.objects.get(pk=explanation.pk).vote_score == 30 == sum(values)
    assert Vote.objects.filter(explanation=explanation).count() == 50


def test_one_user_voting_from_fifty_threads_leaves_one_vote_row(explanation):
    user = make_user("eager")

    errors = run_concurrently(
        [lambda: vote_services.vote_cast(user=user, explanation=explanation, value=1) for _ in range(50)]
    )

    assert errors == []
    assert Vote.objects.filter(user=user, explanation=explanation).count() == 1
    assert Explanation.objects.get(pk=explanation.pk).vote_score == 1


def test_changing_votes_concurrently_keeps_the_total_equal_to_the_rows(explanation):
    voters = [make_user(f"voter{number}") for number in range(25)]
    for user in voters:
        vote_services.vote_cast(user=user, explanation=explanation, value=1)

    # Each voter flips to down and, at the same time, someone new votes up.
    newcomers = [make_user(f"new{number}") for number in range(25)]
    actions = [
        lambda user=user: vote_services.vote_cast(user=user, explanation=explanation, value=-1) for user in voters
    ]
    actions += [
        lambda user=user: vote_services.vote_cast(user=user, explanation=explanation, value=1) for user in newcomers
    ]
    errors = run_concurrently(actions)

    assert errors == []
    total = sum(Vote.objects.filter(explanation=explanation).values_list("value", flat=True))
    assert Explanation.objects.get(pk=explanation.pk).vote_score == total == 0
    assert Vote.objects.filter(explanation=explanation).count() == 50
