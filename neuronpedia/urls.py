from django.contrib import admin
from django.urls import include, path

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/", include("api.urls")),
    path("", include("accounts.urls")),
    path("", include("explanations.urls")),
    path("", include("scoring.urls")),
    path("play/", include("gameplay.urls")),
    path("", include("circuits.urls")),
    path("", include("evaluations.urls")),
    # The wiki's model/source/feature paths are catch-alls, so they come last: the features app's fixed paths
    # first, then the pages that show several domains (front/).
    path("", include("features.urls")),
    path("", include("front.urls")),
]

handler404 = "features.page_responses.not_found"
