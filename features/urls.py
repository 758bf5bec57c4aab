from django.urls import path

from . import views

app_name = "features"

urlpatterns = [
    path("", views.home, name="home"),
    path("jump/", views.jump, name="jump"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run-resume"),
    path("runs/new/<str:model_slug>/", views.run_new, name="run-new"),
    path("upload/model/", views.model_upload, name="model-upload"),
    path("upload/dictionary/<str:model_slug>/", views.dictionary_upload, name="dictionary-upload"),
    path("text-features/<str:model_slug>/", views.text_features, name="text-features"),
    path("steer/<str:model_slug>/", views.steering, name="steer"),
    path("<str:model_slug>/", views.model_detail, name="model"),
    path("<str:model_slug>/<str:source_slug>/", views.source_detail, name="source"),
    path("<str:model_slug>/<str:source_slug>/<int:index>/", views.feature_detail, name="feature"),
    path("<str:model_slug>/<str:source_slug>/<int:index>/test/", views.feature_test, name="feature-test"),
]
