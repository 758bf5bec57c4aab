from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("accounts/api-keys/", views.api_keys, name="api-keys"),
    path("accounts/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
]
