"""The Bones ledger: append-only entries, one per idempotency key, and the cached balance on the profile that
moves with them, under the profile's lock. The balance as the ledger has it is selectors.ledger_balance."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from ..models import LedgerEntry, PlayerProfile
from .profiles import profile_lock


class InsufficientBones(ValidationError):
    pass


def ledger_entry_for_key(*, key: str, user) -> LedgerEntry | None:
    """The entry already made with `key`, if any (a key belongs to one player)."""
    entry = LedgerEntry.objects.filter(idempotency_key=key).first()
    if entry is not None and entry.user_id != user.pk:
        raise ValueError(f"The ledger key {key!r} belongs to another player.")
    return entry


def ledger_append(*, profile: PlayerProfile, amount: int, reason: str, key: str, memo: str) -> LedgerEntry:
    """Add an entry and move the cached balance with it. Call with `profile` locked."""
    entry = LedgerEntry.objects.create(
        user_id=profile.user_id, amount=amount, reason=reason, idempotency_key=key, memo=memo[:200]
    )
    PlayerProfile.objects.filter(pk=profile.pk).update(balance=F("balance") + amount)
    profile.balance += amount
    return entry


def ledger_grant(*, user, amount: int, reason: str, key: str, memo: str = "") -> tuple[LedgerEntry, bool]:
    """Pay `amount` Bones once per `key`: asking again with the same key returns the first entry and pays
    nothing. Returns (entry, created)."""
    if amount <= 0:
        raise ValueError("A grant is a positive amount.")
    with transaction.atomic():
        profile = profile_lock(user=user)
        existing = ledger_entry_for_key(key=key, user=user)
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                return ledger_append(profile=profile, amount=amount, reason=reason, key=key, memo=memo), True
        except IntegrityError:  # only where row locks are not enforced: the other insert won
            return LedgerEntry.objects.get(idempotency_key=key), False


def ledger_spend(*, user, amount: int, reason: str, key: str, memo: str = "") -> tuple[LedgerEntry, bool]:
    """Take `amount` Bones once per `key`, never below 0 (InsufficientBones). Returns (entry, created)."""
    if amount <= 0:
        raise ValueError("A spend is a positive amount.")
    with transaction.atomic():
        profile = profile_lock(user=user)
        existing = ledger_entry_for_key(key=key, user=user)
        if existing is not None:
            return existing, False
        if profile.balance < amount:
            raise InsufficientBones(f"That costs {amount} Bones and you have {profile.balance}.")
        return ledger_append(profile=profile, amount=-amount, reason=reason, key=key, memo=memo), True
