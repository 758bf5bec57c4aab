from django.urls import path

from . import views

app_name = "circuits"

urlpatterns = [
    path("graphs/", views.graph_index, name="index"),
    path("graphs/<str:model_slug>/", views.graph_index, name="model-graphs"),
    # Before the graph's own path: "import" and "new" are refused as graph slugs (models.RESERVED_GRAPH_SLUGS).
    path("graphs/<str:model_slug>/import/", views.graph_import_page, name="import"),
    path("graphs/<str:model_slug>/new/", views.graph_trace_page, name="trace"),
    path("graphs/<str:model_slug>/<str:graph_slug>/", views.graph_detail, name="graph"),
    path("graphs/<str:model_slug>/<str:graph_slug>/node/<str:node_id>/", views.graph_node, name="node"),
    path("graphs/<str:model_slug>/<str:graph_slug>/export.json", views.graph_export_download, name="export"),
    path("graphs/<str:model_slug>/<str:graph_slug>/history/", views.graph_history, name="history"),
    path("graphs/<str:model_slug>/<str:graph_slug>/label/", views.graph_label, name="label"),
    path("graphs/<str:model_slug>/<str:graph_slug>/supernodes/", views.graph_supernodes_save, name="supernodes"),
    path("graphs/<str:model_slug>/<str:graph_slug>/comments/", views.graph_comment, name="comment"),
    path("graphs/<str:model_slug>/<str:graph_slug>/intervene/", views.graph_intervention, name="intervene"),
]
