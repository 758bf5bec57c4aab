"""The comparison pages, under the reserved prefix compare/ (included before the features' catch-alls)."""

from django.urls import path

from . import views

app_name = "evaluations"

urlpatterns = [
    path("compare/<str:model_slug>/", views.compare_index, name="compare-index"),
    path("compare/<str:model_slug>/<str:hook_name>/", views.compare, name="compare"),
]
