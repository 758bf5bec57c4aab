"""Users are django.contrib.auth users managed through django-allauth; profiles are views over them.
A Ban stops a user writing anything on the wiki (explanations, votes, comments, lists, reports)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class BanQuerySet(models.QuerySet):
    def active(self) -> "BanQuerySet":
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


class Ban(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ban")
    reason = models.CharField(max_length=300, blank=True)
    banned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted")

    objects = BanQuerySet.as_manager()

    def __str__(self) -> str:
        return f"ban of {self.user}"

    @property
    def is_active(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()


def user_is_banned(user) -> bool:
    if not user.is_authenticated:
        return False
    return Ban.objects.active().filter(user=user).exists()


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A per-user key for the API, sent as the X-Api-Key header. Only its SHA-256 is stored: the key itself
    is shown once, when it is created. `prefix` (its first characters) finds the row without a scan; the
    digest is then compared in constant time."""

    PREFIX_LENGTH = 8

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True)
    hashed_key = models.CharField(max_length=64, help_text="SHA-256 of the key, hex")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
