from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone

from .models import ActivationExample, ContextWindow, Feature, LanguageModel, PipelineRun, Source, WorkerHeartbeat


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    list_display = ["slug", "display_name", "architecture", "n_layers", "d_model", "created_at"]
    search_fields = ["slug", "display_name"]


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "hook_name", "layer", "n_features"]
    list_filter = ["kind", "model"]
    search_fields = ["slug", "hook_name"]


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    list_display = ["__str__", "max_activation", "density", "updated_at"]
    list_filter = ["source__model", "source"]
    list_select_related = ["source__model"]
    raw_id_fields = ["source"]
    search_fields = ["source__slug", "source__model__slug"]
    show_full_result_count = False


@admin.register(ContextWindow)
class ContextWindowAdmin(admin.ModelAdmin):
    list_display = ["__str__", "model", "position"]
    list_filter = ["model"]
    raw_id_fields = ["model"]
    show_full_result_count = False


@admin.register(ActivationExample)
class ActivationExampleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "rank", "max_value", "max_token_index"]
    list_select_related = ["feature__source__model"]
    raw_id_fields = ["feature", "window"]
    exclude = ["values"]
    show_full_result_count = False


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "model", "status", "progress", "message", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    readonly_fields = ["created_at", "started_at", "heartbeat_at", "finished_at", "claimed_by", "claim", "history"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """The django-q2 worker processes and their last sign of life (features/services/workers.py)."""

    list_display = ["name", "cluster", "beat_at", "alive", "task", "started_at"]
    readonly_fields = ["name", "host", "pid", "cluster", "started_at", "beat_at", "task"]

    @admin.display(boolean=True, description="Beating")
    def alive(self, worker: WorkerHeartbeat) -> bool:
        return timezone.now() - worker.beat_at < timedelta(seconds=settings.WORKER_DEAD_AFTER_S)

    def has_add_permission(self, request) -> bool:
        return False
