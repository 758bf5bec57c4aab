"""Explanations are wiki pages: an Explanation points at its current revision, and every save
appends an ExplanationRevision. Votes and threaded comments hang off features and explanations, and
so do the community's other records: locks, reports, bookmarks, lists and watches.

Writes go through services.py; reads through the QuerySets in querysets.py and selectors.py.
"""

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from features.models import Feature

from .querysets import CommentQuerySet, ExplanationQuerySet, SearchTermQuerySet
from .search import COMMENT_WEIGHT, EXPLANATION_WEIGHT, SEARCH_CONFIG, StoredSearchVector


class Explanation(models.Model):
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="explanations")
    current_revision = models.ForeignKey(
        "ExplanationRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # Written by a person (author) or by a machine (method and the model it used), never neither.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="explanations"
    )
    method = models.CharField(max_length=64, blank=True, help_text="Explainer name, e.g. token-stats")
    explainer_model = models.CharField(max_length=200, blank=True, help_text="The LLM the explainer used")
    # Written by one of our explainers on the task queue (scoring/services.py). At most one per feature and
    # explainer (method + model), so a repeated run finds it instead of writing it again; imported and
    # hand-entered machine explanations are not bound by that.
    generated = models.BooleanField(default=False)
    # Denormalised totals, updated with F() expressions by the vote service so they stay exact.
    vote_score = models.IntegerField(default=0)
    best_score = models.FloatField(null=True, blank=True, help_text="Highest automated score, for ordering")
    hidden = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ExplanationQuerySet.as_manager()

    class Meta:
        # The default order is the one order of explanations (ExplanationQuerySet.best_first): unscored last.
        ordering = ["feature", F("best_score").desc(nulls_last=True), "-vote_score", "created_at"]
        indexes = [
            models.Index(fields=["feature", "-best_score", "-vote_score"], name="explanation_feature_rank"),
            # Search joins each matching revision to its explanation; on PostgreSQL the included columns
            # answer that from the index alone (an index-only scan), without visiting the table.
            models.Index(
                fields=["current_revision"], include=["id", "hidden", "feature"], name="explanation_current_rev"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["feature", "method", "explainer_model"],
                condition=Q(generated=True),
                name="explanation_one_generated_per_explainer",
            )
        ]

    def __str__(self) -> str:
        return self.text[:80]

    def get_absolute_url(self) -> str:
        return reverse("explanations:history", args=[self.pk])

    @property
    def is_visible(self) -> bool:
        """What ExplanationQuerySet.visible() selects, for one row already read."""
        return not self.hidden and self.current_revision_id is not None

    @property
    def text(self) -> str:
        return self.current_revision.text if self.current_revision else ""

    @property
    def written_by(self) -> str:
        if self.author_id:
            return self.author.username
        return f"{self.method} ({self.explainer_model})" if self.explainer_model else self.method

    @property
    def is_machine_written(self) -> bool:
        return not self.author_id and bool(self.method)


class ExplanationRevision(models.Model):
    explanation = models.ForeignKey(Explanation, on_delete=models.CASCADE, related_name="revisions")
    text = models.TextField()
    rule = models.JSONField(null=True, blank=True, help_text="Optional machine-checkable token pattern")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    message = models.CharField(max_length=300, blank=True)
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The earliest revision whose votes vouch for this text: itself after a substantive edit by anyone but the
    # explanation's author (explanations/core/diffing.is_substantive_change), else its predecessor's. Votes on
    # older revisions are shown apart and not counted. NULL (from before votes were bound to texts): all count.
    votes_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # PostgreSQL keeps this up to date itself (NULL elsewhere); GIN-indexed by migration 0003.
    search_vector = models.GeneratedField(
        expression=StoredSearchVector("text", config=SEARCH_CONFIG, weight=EXPLANATION_WEIGHT),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["explanation", "-created_at"]

    def __str__(self) -> str:
        return f"revision {self.pk} of explanation {self.explanation_id}"

    @property
    def rule_source(self) -> str:
        return self.rule.get("source", "") if self.rule else ""


class RevisionEmbedding(models.Model):
    """A revision's MiniLM sentence embedding (float32 bytes), for semantic search. Kept apart from the
    revision so that pages listing revisions never load 1.5 kB of vector per row."""

    revision = models.OneToOneField(
        ExplanationRevision, primary_key=True, on_delete=models.CASCADE, related_name="embedding"
    )
    vector = models.BinaryField()
    encoder = models.CharField(max_length=100)

    def __str__(self) -> str:
        return f"embedding of {self.revision}"


class Vote(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes")
    explanation = models.ForeignKey(Explanation, on_delete=models.CASCADE, related_name="votes")
    # The text the vote was cast on (the current revision then); re-voting moves it to the current one.
    revision = models.ForeignKey(
        "ExplanationRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="votes"
    )
    value = models.SmallIntegerField(choices=[(1, "up"), (-1, "down")])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "explanation"], name="vote_one_per_user_and_explanation"),
            models.CheckConstraint(condition=Q(value__in=[1, -1]), name="vote_value_is_up_or_down"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {'+' if self.value > 0 else '-'} {self.explanation_id}"

    def counts_for(self, current: "ExplanationRevision | None") -> bool:
        """Whether this vote counts for the current text: cast on it, or on a revision since its count began
        (ExplanationRevision.votes_from). Votes and revisions from before votes were bound to texts all count."""
        if current is None or current.votes_from_id is None or self.revision_id is None:
            return True
        return self.revision_id >= current.votes_from_id


class Comment(models.Model):
    """A comment on a feature, optionally about one of its explanations, optionally a reply."""

    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="comments")
    explanation = models.ForeignKey(
        Explanation, null=True, blank=True, on_delete=models.CASCADE, related_name="comments"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="comments")
    body = models.TextField(help_text="Markdown")
    deleted = models.BooleanField(default=False)
    hidden = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    edited_at = models.DateTimeField(null=True, blank=True, help_text="When its author last changed the body")
    search_vector = models.GeneratedField(
        expression=StoredSearchVector("body", config=SEARCH_CONFIG, weight=COMMENT_WEIGHT),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["feature", "created_at"]
        indexes = [models.Index(fields=["feature", "created_at"], name="comment_feature_time")]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.feature}"

    @property
    def is_visible(self) -> bool:
        return not (self.deleted or self.hidden)


class FeatureLock(models.Model):
    """While a feature is locked, only staff add, revise or revert its explanations (machine explainers,
    run by staff, still write). Votes and comments stay open."""

    feature = models.OneToOneField(Feature, on_delete=models.CASCADE, related_name="explanation_lock")
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"lock on {self.feature}"


class Report(models.Model):
    """A reader's flag on a comment or an explanation, queued for the moderators in the admin."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        HIDDEN = "hidden", "Content hidden"
        DISMISSED = "dismissed", "Dismissed"

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="reports_made"
    )
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="reports")
    explanation = models.ForeignKey(
        Explanation, null=True, blank=True, on_delete=models.CASCADE, related_name="reports"
    )
    reason = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(comment__isnull=False, explanation__isnull=True)
                | Q(comment__isnull=True, explanation__isnull=False),
                name="report_targets_one_thing",
            ),
            # Reporting the same thing twice while the first report is open is one report.
            models.UniqueConstraint(
                fields=["reporter", "comment"], condition=Q(status="open"), name="report_open_once_per_comment"
            ),
            models.UniqueConstraint(
                fields=["reporter", "explanation"],
                condition=Q(status="open"),
                name="report_open_once_per_explanation",
            ),
        ]

    def __str__(self) -> str:
        target = f"comment {self.comment_id}" if self.comment_id else f"explanation {self.explanation_id}"
        return f"report on {target} ({self.status})"

    @property
    def target(self) -> "Comment | Explanation":
        return self.comment if self.comment_id else self.explanation


class Bookmark(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bookmarks")
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="bookmarks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "feature"], name="bookmark_once_per_feature")]

    def __str__(self) -> str:
        return f"{self.user} bookmarked {self.feature_id}"


class FeatureList(models.Model):
    """A named collection of features from any models, with a note per feature; public or private."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feature_lists")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    is_public = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    features = models.ManyToManyField(Feature, through="FeatureListItem", related_name="+")

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="list_name_unique_per_owner")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("explanations:list", args=[self.pk])

    def is_visible_to(self, user) -> bool:
        return self.is_public or (user.is_authenticated and user.pk == self.owner_id)


class FeatureListItem(models.Model):
    feature_list = models.ForeignKey(FeatureList, on_delete=models.CASCADE, related_name="items")
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="list_items")
    note = models.CharField(max_length=500, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["feature_list", "added_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["feature_list", "feature"], name="list_item_once_per_list")]

    def __str__(self) -> str:
        return f"{self.feature_id} in {self.feature_list}"


class Watch(models.Model):
    """A user follows a feature: changes to its explanations and discussion appear on their watchlist."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watches")
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="watches")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "feature"], name="watch_once_per_feature")]

    def __str__(self) -> str:
        return f"{self.user} watches {self.feature_id}"


class SearchTerm(models.Model):
    """A word that occurs in some explanation or comment: the dictionary that search corrects typos
    against (pg_trgm over tens of thousands of words is fast; over a million texts it is not). Words are
    added as texts are saved and never removed; `manage.py rebuild_search_terms` refills it."""

    term = models.CharField(max_length=40, primary_key=True)

    objects = SearchTermQuerySet.as_manager()

    def __str__(self) -> str:
        return self.term
