"""Moderation in the admin: the reports queue (hide what was reported, or dismiss), hiding explanations and
comments, locking features' explanations. Every action goes through the services."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from explanations.services import comments as comment_services
from explanations.services import explanations as explanation_services
from explanations.services import moderation as moderation_services

from .models import (
    Bookmark,
    Comment,
    Explanation,
    ExplanationRevision,
    FeatureList,
    FeatureListItem,
    FeatureLock,
    Report,
    Vote,
    Watch,
)


class RevisionInline(admin.TabularInline):
    model = ExplanationRevision
    fk_name = "explanation"
    extra = 0
    fields = ["text", "rule", "author", "message", "created_at"]
    readonly_fields = ["text", "rule", "author", "message", "created_at"]
    can_delete = False  # history is append-only

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Explanation)
class ExplanationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "feature", "written_by", "vote_score", "best_score", "hidden", "created_at"]
    list_filter = ["hidden", "method"]
    list_select_related = ["feature__source__model", "current_revision", "author"]
    raw_id_fields = ["feature", "current_revision", "author"]
    readonly_fields = ["vote_score"]  # kept equal to the sum of the votes by the vote service
    inlines = [RevisionInline]
    actions = ["hide", "show", "lock_features"]
    show_full_result_count = False

    @admin.action(description="Hide the selected explanations")
    def hide(self, request: HttpRequest, queryset: QuerySet) -> None:
        for explanation in queryset:
            explanation_services.explanation_set_hidden(explanation=explanation, moderator=request.user, hidden=True)
        self.message_user(request, f"Hid {len(queryset)} explanation(s).", messages.SUCCESS)

    @admin.action(description="Show the selected explanations again")
    def show(self, request: HttpRequest, queryset: QuerySet) -> None:
        for explanation in queryset:
            explanation_services.explanation_set_hidden(explanation=explanation, moderator=request.user, hidden=False)
        self.message_user(request, f"Showed {len(queryset)} explanation(s).", messages.SUCCESS)

    @admin.action(description="Lock the explanations of the selected explanations' features")
    def lock_features(self, request: HttpRequest, queryset: QuerySet) -> None:
        features = {explanation.feature for explanation in queryset.select_related("feature")}
        for feature in features:
            moderation_services.feature_lock(feature=feature, moderator=request.user, reason="Locked from the admin")
        self.message_user(request, f"Locked {len(features)} feature(s).", messages.SUCCESS)


@admin.register(ExplanationRevision)
class ExplanationRevisionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "author", "message", "created_at"]
    raw_id_fields = ["explanation", "author", "previous"]
    show_full_result_count = False


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["user", "explanation", "value", "created_at"]
    raw_id_fields = ["user", "explanation"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # an edit here would put Explanation.vote_score out of step with the votes


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "author", "created_at", "deleted", "hidden"]
    list_filter = ["deleted", "hidden"]
    list_select_related = ["feature__source__model", "author"]
    raw_id_fields = ["feature", "explanation", "parent", "author"]
    search_fields = ["body", "author__username"]
    actions = ["hide", "show"]

    @admin.action(description="Hide the selected comments")
    def hide(self, request: HttpRequest, queryset: QuerySet) -> None:
        for comment in queryset:
            comment_services.comment_set_hidden(comment=comment, moderator=request.user, hidden=True)
        self.message_user(request, f"Hid {len(queryset)} comment(s).", messages.SUCCESS)

    @admin.action(description="Show the selected comments again")
    def show(self, request: HttpRequest, queryset: QuerySet) -> None:
        for comment in queryset:
            comment_services.comment_set_hidden(comment=comment, moderator=request.user, hidden=False)
        self.message_user(request, f"Showed {len(queryset)} comment(s).", messages.SUCCESS)


class ReportKindFilter(admin.SimpleListFilter):
    title = "reported"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("comment", "Comments"), ("explanation", "Explanations")]

    def queryset(self, request, queryset):
        if self.value() == "comment":
            return queryset.filter(comment__isnull=False)
        if self.value() == "explanation":
            return queryset.filter(explanation__isnull=False)
        return queryset


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """The moderators' queue: open reports first (filter by status), newest first."""

    list_display = ["created_at", "status", "kind", "reported_text", "reason", "reporter", "resolved_by"]
    list_filter = ["status", ReportKindFilter]
    list_select_related = ["reporter", "resolved_by", "comment", "explanation__current_revision"]
    raw_id_fields = ["reporter", "comment", "explanation", "resolved_by"]
    readonly_fields = ["created_at", "resolved_at"]
    actions = ["hide_reported", "dismiss"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).order_by("status", "-created_at")

    @admin.display(description="Kind")
    def kind(self, report: Report) -> str:
        return "comment" if report.comment_id else "explanation"

    @admin.display(description="Reported text")
    def reported_text(self, report: Report) -> str:
        text = report.comment.body if report.comment_id else report.explanation.text
        return text[:120]

    @admin.action(description="Hide what the selected reports report")
    def hide_reported(self, request: HttpRequest, queryset: QuerySet) -> None:
        reports = list(queryset.select_related("comment", "explanation"))
        for report in reports:
            moderation_services.report_resolve(report=report, moderator=request.user, hide=True)
        self.message_user(request, f"Hid what {len(reports)} report(s) reported.", messages.SUCCESS)

    @admin.action(description="Dismiss the selected reports")
    def dismiss(self, request: HttpRequest, queryset: QuerySet) -> None:
        reports = list(queryset)
        for report in reports:
            moderation_services.report_resolve(report=report, moderator=request.user, hide=False)
        self.message_user(request, f"Dismissed {len(reports)} report(s).", messages.SUCCESS)


@admin.register(FeatureLock)
class FeatureLockAdmin(admin.ModelAdmin):
    list_display = ["feature", "locked_by", "reason", "created_at"]
    list_select_related = ["feature__source__model", "locked_by"]
    raw_id_fields = ["feature", "locked_by"]

    def save_model(self, request: HttpRequest, obj: FeatureLock, form, change: bool) -> None:
        if not obj.locked_by_id:
            obj.locked_by = request.user
        super().save_model(request, obj, form, change)


class FeatureListItemInline(admin.TabularInline):
    model = FeatureListItem
    extra = 0
    raw_id_fields = ["feature"]


@admin.register(FeatureList)
class FeatureListAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "is_public", "updated_at"]
    list_filter = ["is_public"]
    raw_id_fields = ["owner"]
    inlines = [FeatureListItemInline]


admin.site.register(Bookmark, raw_id_fields=["user", "feature"], list_display=["user", "feature", "created_at"])
admin.site.register(Watch, raw_id_fields=["user", "feature"], list_display=["user", "feature", "created_at"])
