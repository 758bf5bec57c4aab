"""/api/v1/: our REST API. /api/<neuronpedia's paths>: the routes Neuronpedia's Python client calls.
Anything else under /api/ is a JSON 404, never the wiki's HTML page."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import errors
from .converters import SLUG
from .neuronpedia import urls as neuronpedia_urls
from .views import (
    comments,
    connections,
    evaluations,
    explanations,
    exports,
    features,
    graph_interventions,
    graphs,
    inference,
    lists,
    meta,
    runs,
    sources,
)

app_name = "api"
EXPORT_NAMES = "|".join(exports.EXPORT_NAMES)

v1 = [
    path("", meta.index, name="index"),
    path("ping/", meta.ping, name="ping"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"), name="redoc"),
    path("me/", meta.MeView.as_view(), name="me"),
    path("models/", sources.ModelList.as_view(), name="models"),
    path("models/<np_slug:model_slug>/", sources.ModelDetail.as_view(), name="model"),
    path("models/<np_slug:model_slug>/sources/<np_slug:source_slug>/", sources.SourceDetail.as_view(), name="source"),
    path(
        "models/<np_slug:model_slug>/sources/<np_slug:source_slug>/metrics/",
        evaluations.SourceMetrics.as_view(),
        name="source-metrics",
    ),
    path("models/<np_slug:model_slug>/top-features/", inference.TopFeatures.as_view(), name="top-features"),
    path("models/<np_slug:model_slug>/steer/", inference.Steer.as_view(), name="steer"),
    path("sources/", sources.SourceList.as_view(), name="sources"),
    path(
        "graphs/<np_slug:model_slug>/<np_slug:graph_slug>/intervene/",
        graph_interventions.GraphIntervene.as_view(),
        name="graph-intervene",
    ),
    path("features/", features.FeatureIndex.as_view(), name="features"),
    path("features/<np_id:pk>/", features.FeatureDetail.as_view(), name="feature"),
    path("features/<np_id:pk>/activate/", inference.FeatureActivate.as_view(), name="feature-activate"),
    path(
        "features/<np_slug:model_slug>/<np_slug:source_slug>/<np_id:index>/",
        features.FeatureByAddress.as_view(),
        name="feature-by-address",
    ),
    path(
        "features/<np_slug:model_slug>/<np_slug:source_slug>/<np_id:index>/connections/",
        connections.FeatureConnections.as_view(),
        name="feature-connections",
    ),
    path("activations/", features.ExampleList.as_view(), name="activations"),
    path("activations/<np_id:pk>/", features.ExampleDetail.as_view(), name="activation"),
    path("explanations/", explanations.ExplanationList.as_view(), name="explanations"),
    path("explanations/<np_id:pk>/", explanations.ExplanationDetail.as_view(), name="explanation"),
    path("explanations/<np_id:pk>/revisions/", explanations.RevisionList.as_view(), name="revisions"),
    path("explanations/<np_id:pk>/revert/", explanations.RevertView.as_view(), name="revert"),
    path("explanations/<np_id:pk>/scores/", explanations.ScoreList.as_view(), name="scores"),
    path("explanations/<np_id:pk>/vote/", explanations.VoteView.as_view(), name="vote"),
    path("comments/", comments.CommentList.as_view(), name="comments"),
    path("comments/<np_id:pk>/", comments.CommentDetail.as_view(), name="comment"),
    path("lists/", lists.ListList.as_view(), name="lists"),
    path("lists/<np_id:pk>/", lists.ListDetail.as_view(), name="list"),
    path("lists/<np_id:pk>/items/", lists.ListItems.as_view(), name="list-items"),
    path("lists/<np_id:pk>/items/<np_id:feature_pk>/", lists.ListItemDetail.as_view(), name="list-item"),
    path("graphs/", graphs.GraphList.as_view(), name="graphs"),
    # Before a graph's own path: "import" and "trace" are refused as graph slugs (circuits.models).
    path("graphs/<np_slug:model_slug>/import/", graphs.GraphImport.as_view(), name="graph-import"),
    path("graphs/<np_slug:model_slug>/trace/", graphs.GraphTrace.as_view(), name="graph-trace"),
    path("graphs/<np_slug:model_slug>/<np_slug:graph_slug>/", graphs.GraphDetail.as_view(), name="graph"),
    path("graphs/<np_slug:model_slug>/<np_slug:graph_slug>/export/", graphs.GraphExport.as_view(), name="graph-export"),
    path("runs/", runs.RunList.as_view(), name="runs"),
    path("runs/<np_id:pk>/", runs.RunDetail.as_view(), name="run"),
    re_path(
        rf"^export/(?P<model_slug>{SLUG})/(?P<source_slug>{SLUG})/(?P<name>{EXPORT_NAMES})\.(?P<fmt>jsonl|csv)$",
        exports.ExportView.as_view(),
        name="export",
    ),
]

urlpatterns = [
    path("v1/", include(v1)),
    *neuronpedia_urls.urlpatterns,
    re_path(r"^(?P<unmatched>[\s\S]*)$", errors.not_found),  # [\s\S]: a %0A in the path is still ours to answer
]
