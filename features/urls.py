import re

from django.urls import path, register_converter
from django.urls.converters import StringConverter

from . import views
from .models import RESERVED_SLUGS

app_name = "features"


class ModelPageSlugConverter(StringConverter):
    """The one path segment of a model's page: anything but a reserved slug (no model can be named after one),
    so that the site's one-segment pages routed after this catch-all (front's /search/) are still reached."""

    regex = rf"(?!(?:{'|'.join(map(re.escape, sorted(RESERVED_SLUGS)))})/)[^/]+"


register_converter(ModelPageSlugConverter, "model_page_slug")

urlpatterns = [
    path("jump/", views.jump, name="jump"),
    path("runs/new/<str:model_slug>/", views.run_new, name="run-new"),
    path("upload/model/", views.model_upload, name="model-upload"),
    path("upload/dictionary/<str:model_slug>/", views.dictionary_upload, name="dictionary-upload"),
    path("steer/<str:model_slug>/", views.steering, name="steer"),
    path("<model_page_slug:model_slug>/", views.model_detail, name="model"),
    path("<str:model_slug>/<str:source_slug>/<int:index>/test/", views.feature_test, name="feature-test"),
    path(
        "<str:model_slug>/<str:source_slug>/<int:index>/examples/<int:pk>/",
        views.feature_example,
        name="feature-example",
    ),
    path(
        "<str:model_slug>/<str:source_slug>/<int:index>/intervals/<int:interval>/",
        views.feature_interval,
        name="feature-interval",
    ),
]
