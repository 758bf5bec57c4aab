"""The Bones ledger: append-only, balance = sum of entries = the cached balance, never negative, each
grant and spend once per idempotency key."""

import pytest
from django.db import IntegrityError

from gameplay.models import LedgerEntry, PlayerProfile
from gameplay.selectors import ledger_balance
from gameplay.services.ledger import InsufficientBones, ledger_grant, ledger_spend

from .conftest import make_player

pytestmark = pytest.mark.django_db


def test_the_balance_is_the_sum_of_the_ledger(db):
    user = make_player("saver")
    ledger_grant(user=user, amount=50, reason="play", key="a")
    ledger_grant(user=user, amount=7, reason="play", key="b")
    ledger_spend(user=user, amount=30, reason="purchase", key="c")

    assert ledger_balance(user=user) == 27 == PlayerProfile.objects.get(user=user).balance


def test_a_grant_with_the_same_key_pays_once(db):
    user = make_player("lucky")

    first, created = ledger_grant(user=user, amount=10, reason="play", key="round:1")
    again, created_again = ledger_grant(user=user, amount=10, reason="play", key="round:1")

    assert created and not created_again and first == again
    assert ledger_balance(user=user) == 10 == PlayerProfile.objects.get(user=user).balance


def test_spending_more_than_the_balance_is_refused(db):
    user = make_player("broke")
    ledger_grant(user=user, amount=10, reason="play", key="a")

    with pytest.raises(InsufficientBones):
        ledger_spend(user=user, amount=11, reason="purchase", key="b")

    assert ledger_balance(user=user) == 10
    assert not LedgerEntry.objects.filter(idempotency_key="b").exists()


def test_a_key_cannot_be_reused_by_another_player(db):
    one, two = make_player("one"), make_player("two")
    ledger_grant(user=one, amount=5, reason="play", key="shared")

    with pytest.raises(ValueError):
        ledger_grant(user=two, amount=5, reason="play", key="shared")


def test_entries_are_append_only(db):
    user = make_player("auditor")
    entry, _ = ledger_grant(user=user, amount=5, reason="play", key="a")

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
        ledger_grant(user=user, amount=0, reason="play", key="z")
    with pytest.raises(ValueError):
        ledger_spend(user=user, amount=-5, reason="purchase", key="z")
