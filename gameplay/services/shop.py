"""The shop: buying an item (once per purchase token, paid through the ledger under the profile's lock) and
wearing what was bought."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from ..core.catalogue import BY_SLUG as SHOP_ITEMS
from ..core.catalogue import SLOTS
from ..models import InventoryItem, LedgerEntry, PlayerProfile
from .achievements import achievements_check
from .ledger import InsufficientBones, ledger_append, ledger_entry_for_key
from .profiles import profile_lock


def shop_buy(*, user, slug: str, token: str) -> tuple[LedgerEntry, bool]:
    """Buy one item, once per `token` (the form's purchase token): a resubmitted form charges nothing more.
    Returns (ledger entry, whether this call bought it)."""
    item = SHOP_ITEMS.get(slug)
    if item is None:
        raise ValidationError("The shop has no such item.")
    if not token or len(token) > 64:
        raise ValidationError("The purchase form is incomplete; reload the shop and try again.")
    key = f"buy:{user.pk}:{token}"
    with transaction.atomic():
        profile = profile_lock(user=user)
        existing = ledger_entry_for_key(key=key, user=user)
        if existing is not None:
            return existing, False
        if item.is_cosmetic and InventoryItem.objects.filter(user=user, item=slug).exists():
            raise ValidationError(f"You already own the {item.name.lower()}.")
        if profile.balance < item.price:
            raise InsufficientBones(f"The {item.name.lower()} costs {item.price} Bones and you have {profile.balance}.")
        entry = ledger_append(
            profile=profile, amount=-item.price, reason=LedgerEntry.Reason.PURCHASE, key=key, memo=item.name
        )
        if item.is_cosmetic:
            InventoryItem.objects.create(user=user, item=slug)
        elif slug == "hint":
            PlayerProfile.objects.filter(pk=profile.pk).update(hints=F("hints") + 1)
        elif slug == "streak-freeze":
            PlayerProfile.objects.filter(pk=profile.pk).update(streak_freezes=F("streak_freezes") + 1)
    achievements_check(user=user)
    return entry, True


def inventory_equip(*, user, slot: str, slug: str) -> dict:
    """Wear an owned item in its slot, or take the slot's item off (empty slug)."""
    if slot not in SLOTS:
        raise ValidationError("There is no such slot.")
    with transaction.atomic():
        profile = profile_lock(user=user)
        equipped = dict(profile.equipped or {})
        if slug:
            item = SHOP_ITEMS.get(slug)
            if item is None or item.slot != slot:
                raise ValidationError("That item does not go there.")
            if not InventoryItem.objects.filter(user=user, item=slug).exists():
                raise ValidationError(f"Buy the {item.name.lower()} first.")
            equipped[slot] = slug
        else:
            equipped.pop(slot, None)
        profile.equipped = equipped
        profile.save(update_fields=["equipped"])
    return equipped
