"""Bones under concurrency, on PostgreSQL: many threads, each with its own database connection, spending
and granting at once. SQLite serialises every write transaction, so it has no race to show; CI runs the
suite on PostgreSQL too.

A hundred actions start together behind a barrier. PostgreSQL's max_connections bounds how many threads can
hold a connection at once, so when fewer than 100 connections are free the actions are shared among as many
threads as there are (each thread runs its share back to back, all threads at once)."""

import threading

import pytest
from django.db import connection

from gameplay.models import LedgerEntry, PlayerProfile, Round
from gameplay.selectors import ledger_balance
from gameplay.services.ledger import InsufficientBones, ledger_grant
from gameplay.services.predict import predict_start
from gameplay.services.rounds import round_answer
from gameplay.services.shop import shop_buy

from .conftest import items_of, make_player, toy_feature  # noqa: F401 - toy_feature is a fixture

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks under concurrency need PostgreSQL")

N_ACTIONS = 100


def free_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        limit = int(cursor.fetchone()[0])
        cursor.execute("SELECT count(*) FROM pg_stat_activity")
        used = int(cursor.fetchone()[0])
    return limit - used - 10  # room for the other sessions on a shared server


def run_concurrently(actions) -> tuple[list, list[BaseException]]:
    """Run every action at once; returns (results, errors)."""
    n_threads = max(2, min(len(actions), free_connections()))
    shares = [actions[i::n_threads] for i in range(n_threads)]
    barrier = threading.Barrier(n_threads)
    results, errors, lock = [], [], threading.Lock()

    def run(share):
        try:
            barrier.wait()
            for action in share:
                try:
                    outcome = action()
                    with lock:
                        results.append(outcome)
                except BaseException as error:  # noqa: BLE001 - collected and asserted on below
                    with lock:
                        errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def running_balances(user) -> list[int]:
    """The balance after each entry, in the order the entries were written (under the lock)."""
    total, balances = 0, []
    for amount in LedgerEntry.objects.filter(user=user).order_by("pk").values_list("amount", flat=True):
        total += amount
        balances.append(total)
    return balances


@pytest.fixture
def shopper(transactional_db):
    user = make_player("shopper", graduated=False)
    ledger_grant(user=user, amount=150, reason="adjustment", key="seed")  # ten hints at 15
    return user


def test_a_hundred_parallel_purchases_against_a_balance_for_ten_buy_exactly_ten(shopper):
    results, errors = run_concurrently(
        [lambda n=n: shop_buy(user=shopper, slug="hint", token=f"buy-{n}") for n in range(N_ACTIONS)]
    )

    assert len(results) == 10
    assert len(errors) == N_ACTIONS - 10 and all(isinstance(e, InsufficientBones) for e in errors)
    profile = PlayerProfile.objects.get(user=shopper)
    assert profile.balance == 0 == ledger_balance(user=shopper)
    assert profile.hints == 10
    assert LedgerEntry.objects.filter(user=shopper, reason="purchase").count() == 10
    assert min(running_balances(shopper)) >= 0  # never below zero, at any point


def test_a_hundred_parallel_duplicate_grants_with_one_key_pay_once(transactional_db):
    user = make_player("winner", graduated=False)

    results, errors = run_concurrently(
        [lambda: ledger_grant(user=user, amount=25, reason="play", key="round:42") for _ in range(N_ACTIONS)]
    )

    assert errors == []
    assert sum(created for _, created in results) == 1
    assert len({entry.pk for entry, _ in results}) == 1
    assert LedgerEntry.objects.filter(user=user).count() == 1
    assert PlayerProfile.objects.get(user=user).balance == 25 == ledger_balance(user=user)


def test_the_last_card_answered_from_many_tabs_at_once_pays_the_round_once(transactional_db, toy_feature):  # noqa: F811
    user = make_player("tabs")
    round_obj = predict_start(user=user, feature=toy_feature)
    items = items_of(round_obj)
    for item in items[:-1]:
        round_answer(user=user, round_id=round_obj.pk, position=item.position, guess=item.truth)
    last = items[-1]

    results, errors = run_concurrently(
        [
            lambda n=n: round_answer(user=user, round_id=round_obj.pk, position=last.position, guess=n % 11)
            for n in range(30)
        ]
    )

    assert errors == []
    assert sum(outcome.created for outcome in results) == 1
    round_obj.refresh_from_db()
    assert round_obj.status == Round.Status.FINISHED
    assert LedgerEntry.objects.filter(user=user, reason="play").count() == 1
    assert PlayerProfile.objects.get(user=user).xp == round_obj.xp
