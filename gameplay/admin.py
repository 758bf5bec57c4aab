"""The game in the admin: read-only, since Bones move only through the ledger services (a correction is a
new entry, made with services.ledger.ledger_grant or ledger_spend) and rounds are the players' own record."""

from django.contrib import admin

from .models import Answer, DailyFeature, EarnedAchievement, InventoryItem, LedgerEntry, PlayerProfile, Round


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PlayerProfile)
class PlayerProfileAdmin(ReadOnlyAdmin):
    list_display = ["user", "level", "xp", "balance", "streak", "camp_graduated", "gold_correct", "gold_total"]
    search_fields = ["user__username"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "amount", "reason", "memo", "idempotency_key"]
    list_filter = ["reason"]
    search_fields = ["user__username", "idempotency_key"]


@admin.register(Round)
class RoundAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "mode", "status", "feature", "rung", "skill", "xp", "bones"]
    list_filter = ["mode", "status"]
    search_fields = ["user__username"]
    raw_id_fields = ["feature", "explanation"]


@admin.register(Answer)
class AnswerAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "item", "guess", "says_fits", "correct"]


admin.site.register(DailyFeature, ReadOnlyAdmin)
admin.site.register(InventoryItem, ReadOnlyAdmin)
admin.site.register(EarnedAchievement, ReadOnlyAdmin)
