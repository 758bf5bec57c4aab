from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("u/<str:username>/", views.profile, name="profile"),
    path("accounts/api-keys/", views.api_keys, name="api-keys"),
    path("accounts/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
]
