from django.contrib import admin

from .models import Graph


@admin.register(Graph)
class GraphAdmin(admin.ModelAdmin):
    list_display = ["slug", "model", "title", "origin", "author", "created_at"]
    list_filter = ["origin", "model"]
    search_fields = ["slug", "title", "prompt"]
