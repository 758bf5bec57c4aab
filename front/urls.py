"""The pages that show several domains at once. Included after the features app's URLs (features/urls.py), whose
fixed paths (jump/, runs/new/..., upload/..., steer/...) must win over the model/source/index catch-alls here.
A one-segment page here (search/) is reached because the features' model page does not take a reserved slug
(features.models.RESERVED_SLUGS)."""

from django.urls import path

from . import views

app_name = "front"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("u/<str:username>/", views.profile, name="profile"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run-resume"),
    path("text-features/<str:model_slug>/", views.text_features, name="text-features"),
    path("<str:model_slug>/<str:source_slug>/", views.source_detail, name="source"),
    path("<str:model_slug>/<str:source_slug>/<int:index>/", views.feature_detail, name="feature"),
    path("<str:model_slug>/<str:source_slug>/<int:index>/similar/", views.feature_similar, name="feature-similar"),
    path(
        "<str:model_slug>/<str:source_slug>/<int:index>/connections/",
        views.feature_connections,
        name="feature-connections",
    ),
]
