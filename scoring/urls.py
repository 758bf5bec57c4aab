"""Score pages and the generate/score buttons. Included before the wiki's catch-all model/source/index
paths; `explanations` is a reserved top-level segment (features.models.RESERVED_SLUGS)."""

from django.urls import path

from . import views

app_name = "scoring"

urlpatterns = [
    path("explanations/<int:pk>/scores/<int:score_pk>/", views.score_detail, name="score"),
    path("explanations/<int:pk>/score/", views.explanation_score, name="explanation-score"),
    path("<str:model_slug>/<str:source_slug>/<int:index>/generate/", views.feature_generate, name="feature-generate"),
]
