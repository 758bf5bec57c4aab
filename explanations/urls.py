"""The community's URLs. Included before the wiki's catch-all model/source/index paths; every top-level
segment used here is in features.models.RESERVED_SLUGS so that no model can be named after it."""

from django.urls import path

from . import views

app_name = "explanations"

FEATURE = "<str:model_slug>/<str:source_slug>/<int:index>"

urlpatterns = [
    path("search/", views.search, name="search"),
    path("recent/", views.recent_changes, name="recent"),
    path("watchlist/", views.watchlist, name="watchlist"),
    path("bookmarks/", views.bookmarks, name="bookmarks"),
    path("lists/", views.list_index, name="lists"),
    path("lists/new/", views.list_new, name="list-new"),
    path("lists/<int:pk>/", views.list_detail, name="list"),
    path("lists/<int:pk>/edit/", views.list_edit, name="list-edit"),
    path("lists/<int:pk>/delete/", views.list_delete, name="list-delete"),
    path("lists/<int:pk>/remove/<int:feature_pk>/", views.list_remove_feature, name="list-remove"),
    path("explanations/<int:pk>/", views.explanation_history, name="history"),
    path("explanations/<int:pk>/edit/", views.explanation_edit, name="edit"),
    path("explanations/<int:pk>/diff/", views.explanation_diff, name="diff"),
    path("explanations/<int:pk>/revisions/<int:revision_pk>/", views.revision_detail, name="revision"),
    path("explanations/<int:pk>/revert/<int:revision_pk>/", views.explanation_revert, name="revert"),
    path("explanations/<int:pk>/vote/", views.explanation_vote, name="vote"),
    path("explanations/<int:pk>/report/", views.explanation_report, name="explanation-report"),
    path("explanations/<int:pk>/hide/", views.explanation_hide, name="explanation-hide"),
    path("comments/<int:pk>/reply/", views.comment_reply, name="comment-reply"),
    path("comments/<int:pk>/edit/", views.comment_edit, name="comment-edit"),
    path("comments/<int:pk>/delete/", views.comment_delete, name="comment-delete"),
    path("comments/<int:pk>/report/", views.comment_report, name="comment-report"),
    path("comments/<int:pk>/hide/", views.comment_hide, name="comment-hide"),
    path(f"{FEATURE}/explain/", views.explanation_new, name="explanation-new"),
    path(f"{FEATURE}/comment/", views.comment_new, name="comment-new"),
    path(f"{FEATURE}/watch/", views.feature_watch, name="watch"),
    path(f"{FEATURE}/bookmark/", views.feature_bookmark, name="bookmark"),
    path(f"{FEATURE}/add-to-list/", views.feature_add_to_list, name="add-to-list"),
    path(f"{FEATURE}/lock/", views.feature_lock, name="lock"),
]
