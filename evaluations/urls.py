"""The comparison pages, under the reserved prefix compare/ (included before the features' catch-alls)."""

from django.urls import path

from . import views

app_name = "evaluations"

# Feature families (matching features across dictionaries). Other evaluation pages add their own list below.
family_urlpatterns = [
    path(
        "compare/<str:model_slug>/families/<str:source_slug>/<int:index>/",
        views.feature_family,
        name="feature-family",
    ),
    path(
        "compare/<str:model_slug>/elsewhere/<str:source_slug>/<int:index>/",
        views.feature_elsewhere,
        name="feature-elsewhere",
    ),
]

urlpatterns = [
    *family_urlpatterns,
    path("compare/<str:model_slug>/", views.compare_index, name="compare-index"),
    path("compare/<str:model_slug>/<str:hook_name>/", views.compare, name="compare"),
]
