from django.urls import path

from . import views

app_name = "features"

urlpatterns = [
    path("jump/", views.jump, name="jump"),
    path("runs/new/<str:model_slug>/", views.run_new, name="run-new"),
    path("upload/model/", views.model_upload, name="model-upload"),
    path("upload/dictionary/<str:model_slug>/", views.dictionary_upload, name="dictionary-upload"),
    path("steer/<str:model_slug>/", views.steering, name="steer"),
    path("<str:model_slug>/", views.model_detail, name="model"),
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
