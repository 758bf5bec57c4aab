from django.urls import path

from . import views

app_name = "circuits"

urlpatterns = [
    path("graphs/<str:model_slug>/<str:graph_slug>/", views.graph_detail, name="graph"),
]
