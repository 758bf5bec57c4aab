"""Bans in the admin: a list of bans, and actions on the user list to ban or unban (through the services)."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import ApiKey, Ban

User = get_user_model()


@admin.register(Ban)
class BanAdmin(admin.ModelAdmin):
    list_display = ["user", "reason", "banned_by", "created_at", "expires_at"]
    raw_id_fields = ["user", "banned_by"]
    search_fields = ["user__username", "reason"]

    def save_model(self, request: HttpRequest, obj: Ban, form, change: bool) -> None:
        if not obj.banned_by_id:
            obj.banned_by = request.user
        super().save_model(request, obj, form, change)


# Keep Django's user admin, with two actions added.
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class ModeratedUserAdmin(UserAdmin):
    actions = ["ban", "unban"]
    list_display = [*UserAdmin.list_display, "is_banned"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("ban")

    @admin.display(boolean=True, description="Banned")
    def is_banned(self, user) -> bool:
        ban = getattr(user, "ban", None)
        return ban is not None and ban.is_active

    @admin.action(description="Ban the selected users from writing on the wiki")
    def ban(self, request: HttpRequest, queryset: QuerySet) -> None:
        banned = 0
        for user in queryset:
            try:
                services.user_ban(user=user, moderator=request.user, reason="Banned from the admin")
                banned += 1
            except PermissionDenied as denied:
                self.message_user(request, f"{user}: {denied}", messages.WARNING)
        self.message_user(request, f"Banned {banned} user(s).", messages.SUCCESS)

    @admin.action(description="Lift the selected users' bans")
    def unban(self, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset:
            services.user_unban(user=user, moderator=request.user)
        self.message_user(request, f"Lifted the bans of {len(queryset)} user(s).", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created and revoked by their owners on the account page; here staff can see and revoke them."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "name", "prefix"]
    readonly_fields = ["user", "prefix", "hashed_key", "created_at", "last_used_at"]
    fields = ["user", "name", "prefix", "hashed_key", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
