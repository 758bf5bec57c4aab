"""The community's URLs. Included before the wiki's catch-all model/source/index paths; every top-level
segment used here is in features.models.RESERVED_SLUGS so that no model can be named after it."""

from django.urls import path

from .views import comments as comment_views
from .views import explanations as explanation_views
from .views import lists as list_views
from .views import recent as recent_views

app_name = "explanations"

FEATURE = "<str:model_slug>/<str:source_slug>/<int:index>"

urlpatterns = [
    path("recent/", recent_views.recent_changes, name="recent"),
    path("watchlist/", recent_views.watchlist, name="watchlist"),
    path("bookmarks/", list_views.bookmarks, name="bookmarks"),
    path("lists/", list_views.list_index, name="lists"),
    path("lists/new/", list_views.list_new, name="list-new"),
    path("lists/<int:pk>/", list_views.list_detail, name="list"),
    path("lists/<int:pk>/edit/", list_views.list_edit, name="list-edit"),
    path("lists/<int:pk>/delete/", list_views.list_delete, name="list-delete"),
    path("lists/<int:pk>/remove/<int:feature_pk>/", list_views.list_remove_feature, name="list-remove"),
    path("explanations/<int:pk>/", explanation_views.explanation_history, name="history"),
    path("explanations/<int:pk>/edit/", explanation_views.explanation_edit, name="edit"),
    path("explanations/<int:pk>/diff/", explanation_views.explanation_diff, name="diff"),
    path("explanations/<int:pk>/revisions/<int:revision_pk>/", explanation_views.revision_detail, name="revision"),
    path("explanations/<int:pk>/revert/<int:revision_pk>/", explanation_views.explanation_revert, name="revert"),
    path("explanations/<int:pk>/vote/", explanation_views.explanation_vote, name="vote"),
    path("explanations/<int:pk>/report/", explanation_views.explanation_report, name="explanation-report"),
    path("explanations/<int:pk>/hide/", explanation_views.explanation_hide, name="explanation-hide"),
    path("comments/<int:pk>/reply/", comment_views.comment_reply, name="comment-reply"),
    path("comments/<int:pk>/edit/", comment_views.comment_edit, name="comment-edit"),
    path("comments/<int:pk>/delete/", comment_views.comment_delete, name="comment-delete"),
    path("comments/<int:pk>/report/", comment_views.comment_report, name="comment-report"),
    path("comments/<int:pk>/hide/", comment_views.comment_hide, name="comment-hide"),
    path(f"{FEATURE}/explain/", explanation_views.explanation_new, name="explanation-new"),
    path(f"{FEATURE}/comment/", comment_views.comment_new, name="comment-new"),
    path(f"{FEATURE}/watch/", list_views.feature_watch, name="watch"),
    path(f"{FEATURE}/bookmark/", list_views.feature_bookmark, name="bookmark"),
    path(f"{FEATURE}/add-to-list/", list_views.feature_add_to_list, name="add-to-list"),
    path(f"{FEATURE}/lock/", explanation_views.feature_lock, name="lock"),
]
