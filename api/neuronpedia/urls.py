"""Neuronpedia's paths under /api/, as its Python client calls them (api/urls.py puts them in the `api` namespace).
The client writes some of its paths with a trailing slash and some without: take both."""

from django.urls import re_path

from ..converters import SLUG
from . import features, inference, lists, source_sets, uploads

urlpatterns = [
    re_path(
        rf"^feature/(?P<model_slug>{SLUG})/(?P<source_slug>{SLUG})/(?P<index>[0-9]{{1,19}})/?$",
        features.FeatureGet.as_view(),
        name="np-feature",
    ),
    re_path(r"^feature/upload-batch/?$", uploads.FeatureUploadBatch.as_view(), name="np-feature-upload"),
    re_path(r"^activation/new/?$", inference.ActivationNew.as_view(), name="np-activation-new"),
    re_path(r"^activation/upload-batch/?$", uploads.ActivationUploadBatch.as_view(), name="np-activation-upload"),
    re_path(r"^search-all/?$", inference.SearchAll.as_view(), name="np-search-all"),
    re_path(r"^search-topk-by-token/?$", inference.SearchTopkByToken.as_view(), name="np-search-topk"),
    re_path(r"^list/new/?$", lists.ListNew.as_view(), name="np-list-new"),
    re_path(r"^list/add-features/?$", lists.ListAddFeatures.as_view(), name="np-list-add"),
    re_path(r"^list/get/?$", lists.ListGet.as_view(), name="np-list-get"),
    re_path(r"^list/list/?$", lists.ListOwned.as_view(), name="np-list-owned"),
    re_path(r"^model/new/?$", source_sets.ModelNew.as_view(), name="np-model-new"),
    re_path(r"^source-set/new/?$", source_sets.SourceSetNew.as_view(), name="np-source-set-new"),
    re_path(
        rf"^source-set/(?P<model_slug>{SLUG})/(?P<name>{SLUG})/?$",
        source_sets.SourceSetGet.as_view(),
        name="np-source-set",
    ),
]
