"""Writes on accounts: banning and unbanning users (from the admin), and API keys (from the account page)."""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from .models import ApiKey, Ban


def user_ban(*, user, moderator, reason: str = "", expires_at: datetime | None = None) -> Ban:
    """Stop a user writing on the wiki, until `expires_at` or until lifted. Staff cannot be banned here:
    take their staff status away first."""
    if moderator is None or not moderator.is_staff:
        raise PermissionDenied("Only moderators can ban users.")
    if user.is_staff:
        raise PermissionDenied("Staff accounts cannot be banned; remove their staff status first.")
    ban, _ = Ban.objects.update_or_create(
        user=user, defaults={"reason": reason[:300], "banned_by": moderator, "expires_at": expires_at}
    )
    return ban


def user_unban(*, user, moderator) -> None:
    if moderator is None or not moderator.is_staff:
        raise PermissionDenied("Only moderators can lift bans.")
    Ban.objects.filter(user=user).delete()


# --- API keys ----------------------------------------------------------------------------------

MAX_ACTIVE_API_KEYS = 10
# last_used_at is written at most this often per key, so that a busy client does not turn every read into a write.
API_KEY_TOUCH_EVERY = timedelta(minutes=1)


def api_key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_create(*, user, name: str) -> tuple[ApiKey, str]:
    """A new key for `user`; returns the row and the key itself, which is stored nowhere and shown once."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": "Name the key after where you will use it, e.g. 'laptop' or 'CI'."})
    if len(name) > 100:
        raise ValidationError({"name": "Keep the name under 100 characters."})
    if ApiKey.objects.active().filter(user=user).count() >= MAX_ACTIVE_API_KEYS:
        raise ValidationError(f"You have {MAX_ACTIVE_API_KEYS} keys already; revoke one you no longer use first.")
    raw_key = secrets.token_urlsafe(32)  # 32 random bytes, 43 URL-safe characters
    key = ApiKey.objects.create(
        user=user, name=name, prefix=raw_key[: ApiKey.PREFIX_LENGTH], hashed_key=api_key_digest(raw_key)
    )
    return key, raw_key


def api_key_revoke(*, key: ApiKey, user) -> None:
    if key.user_id != user.pk:
        raise PermissionDenied("You can only revoke your own keys.")
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_key_user(raw_key: str):
    """The user an active key belongs to, or None. Constant-time comparison of the digests."""
    if not raw_key or len(raw_key) < ApiKey.PREFIX_LENGTH or len(raw_key) > 200:
        return None
    digest = api_key_digest(raw_key)
    for key in ApiKey.objects.active().select_related("user").filter(prefix=raw_key[: ApiKey.PREFIX_LENGTH]):
        if hmac.compare_digest(key.hashed_key, digest):
            if not key.user.is_active:
                return None
            now = timezone.now()
            if key.last_used_at is None or now - key.last_used_at > API_KEY_TOUCH_EVERY:
                ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            return key.user
    return None
