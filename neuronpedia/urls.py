from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/", include("api.urls")),
    path("", include("accounts.urls")),
    path("", include("explanations.urls")),
    path("", include("scoring.urls")),
    path("play/", include("gameplay.urls")),
    # The wiki's model/source/feature paths are catch-alls, so they come last.
    path("", include("features.urls")),
]

handler404 = "features.views.not_found"
