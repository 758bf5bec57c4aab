from django.contrib import admin

from .models import ExplanationScore


@admin.register(ExplanationScore)
class ExplanationScoreAdmin(admin.ModelAdmin):
    list_display = ["__str__", "scorer", "value", "judge", "created_at"]
    list_filter = ["scorer"]
    raw_id_fields = ["explanation", "revision"]
