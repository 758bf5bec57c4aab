"""The Bones ledger: append-only, balance = sum of entries = the cached balance, never negative, each
grant and spend once per idempotency key."""

import pytest
from django.db import IntegrityError

from gameplay import services
from gameplay.models import LedgerEntry, PlayerProfile

from .conftest import make_player

pytestmark = pytest.mark.django_db


def test_the_balance_is_the_sum_of_the_ledger(db):
    user = make_player("saver")
    services.ledger_grant(user=user, amount=50, reason="play", key="a")
    services.ledger_grant(user=user, amount=7, reason="play", key="b")
    services.ledger_spend(user=user, amount=30, reason="purchase", key="c")

    assert services.ledger_balance(user=user) == 27 == PlayerProfile.objects.get(user=user).balance


def test_a_grant_with_the_same_key_pays_once(db):
    user = make_player("lucky")

    first, created = services.ledger_grant(user=user, amount=10, reason="play", key="round:1")
    again, created_again = services.ledger_grant(user=user, amount=10, reason="play", key="round:1")

    assert created and not created_again and first == again
    assert services.ledger_balance(user=user) == 10 == PlayerProfile.objects.get(user=user).balance


def test_spending_more_than_the_balance_is_refused(db):
    user = make_player("broke")
    services.ledger_grant(user=user, amount=10, reason="play", key="a")

    with pytest.raises(services.InsufficientBones):
        services.ledger_spend(user=user, amount=11, reason="purchase", key="b")

    assert services.ledger_balance(user=user) == 10
    assert not LedgerEntry.objects.filter(idempotency_key="b").exists()


def test_a_key_cannot_be_reused_by_another_player(db):
    one, two = make_player("one"), make_player("two")
    services.ledger_grant(user=one, amount=5, reason="play", key="shared")

    with pytest.raises(ValueError):
        services.ledger_grant(user=two, amount=5, reason="play", key="shared")


def test_entries_are_append_only(db):
    user = make_player("auditor")
    entry, _ = services.ledger_grant(user=user, amount=5, reason="play", key="a")

    with pytest.raises(ValueError):
        entry.amount = 500
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()


def test_the_database_refuses_a_negative_balance_and_a_zero_entry(db):
    user = make_player("checked")
    with pytest.raises(IntegrityError):
        PlayerProfile.objects.filter(user=user).update(balance=-1)


def test_the_database_refuses_an_empty_entry(db):
    user = make_player("empty")
    with pytest.raises(IntegrityError):
        LedgerEntry.objects.create(user=user, amount=0, reason="play", idempotency_key="zero")


def test_amounts_must_be_positive(db):
    user = make_player("positive")
    with pytest.raises(ValueError):
        services.ledger_grant(user=user, amount=0, reason="play", key="z")
    with pytest.raises(ValueError):
        services.ledger_spend(user=user, amount=-5, reason="purchase", key="z")
