"""Attribution graphs as wiki pages.

A graph is stored in circuit-tracer's JSON schema (the one Neuronpedia's graph viewer renders:
`metadata`, `qParams`, `nodes`, `links`; see docs/circuits.md), so that a graph computed here opens in their
viewers and one computed by circuit-tracer elsewhere can be imported as it is.
"""

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver
from django.urls import reverse

from features.models import Feature, LanguageModel, PipelineRun, slug_validator
from features.services.page_versions import feature_page_changed

from .core.graph_search import graph_search_text

# Slugs a graph may not take: fixed pages and endpoints under /graphs/<model>/ and /api/v1/graphs/<model>/ that
# come before a graph's own address in the URL patterns (a graph so named could never be opened).
RESERVED_GRAPH_SLUGS = {"import", "new", "trace"}


class Graph(models.Model):
    class Origin(models.TextChoices):
        COMPUTED = "computed", "Computed here"
        IMPORTED = "imported", "Imported from circuit-tracer's JSON"

    model = models.ForeignKey(LanguageModel, on_delete=models.CASCADE, related_name="graphs")
    slug = models.CharField(max_length=64, validators=[slug_validator])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    prompt = models.TextField()
    # What the graph explains, in words ("the logit of ' Paris' at the last position", "3-res-sae:17 at 5").
    target = models.CharField(max_length=300, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.COMPUTED)
    # circuit-tracer's schema: {"metadata": {...}, "qParams": {...}, "nodes": [...], "links": [...]}.
    data = models.JSONField(default=dict)
    # How it was computed: sources, node budget, thresholds, the target's specification.
    params = models.JSONField(default=dict, blank=True)
    # circuit-tracer's two scores of the pruned graph (None when unknown, e.g. an imported graph without them).
    replacement_score = models.FloatField(null=True, blank=True)
    completeness_score = models.FloatField(null=True, blank=True)
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="graphs")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["model", "slug"], name="graph_unique_slug_per_model")]

    def __str__(self) -> str:
        return f"{self.model.slug}/graphs/{self.slug}"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        update_fields = kwargs.get("update_fields")
        if update_fields is None or SEARCHED_FIELDS.intersection(update_fields):
            graph_search_text_save(self)

    def get_absolute_url(self) -> str:
        return reverse("circuits:graph", args=[self.model.slug, self.slug])


# The fields of a graph that its search text is made of (GraphSearchText; `data` holds the labels).
SEARCHED_FIELDS = frozenset({"title", "description", "prompt", "target", "data"})


class GraphSearchText(models.Model):
    """What search reads of a graph (circuits/core/graph_search.py): its title, description, prompt, target, node
    labels and supernode names as one short normalised text, kept in step by Graph.save(). A row of its own
    because a graph's `data` runs to megabytes: SQLite would walk a graph's data to reach a column stored after
    it, and PostgreSQL indexes this column alone (a trigram GIN index, migration 0004) for its LIKE."""

    graph = models.OneToOneField(Graph, on_delete=models.CASCADE, primary_key=True, related_name="search_text")
    text = models.TextField()

    def __str__(self) -> str:
        return f"search text of graph {self.graph_id}"


def graph_search_text_save(graph: Graph) -> None:
    supernodes = graph.data.get("qParams", {}).get("supernodes", [])
    text = graph_search_text(
        title=graph.title,
        description=graph.description,
        prompt=graph.prompt,
        target=graph.target,
        labels=graph_labels(graph).values(),
        supernode_names=[group[0] for group in supernodes if group and isinstance(group[0], str)],
    )
    GraphSearchText.objects.update_or_create(graph=graph, defaults={"text": text})


class GraphNode(models.Model):
    """The index from a graph to the features it contains, for the features' pages ("In these graphs"): one row
    per node of the graph that maps to a feature of ours (an imported graph whose sources we do not know has
    none)."""

    graph = models.ForeignKey(Graph, on_delete=models.CASCADE, related_name="feature_nodes")
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="graph_nodes")
    node_id = models.CharField(max_length=128)
    # circuit-tracer's cumulative influence (smaller is more influential); None where the graph has none.
    influence = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["graph", "node_id"]
        constraints = [models.UniqueConstraint(fields=["graph", "node_id"], name="graph_node_unique_id")]
        indexes = [models.Index(fields=["feature", "graph"], name="graph_node_feature")]

    def __str__(self) -> str:
        return f"{self.graph} {self.node_id}"


class GraphRevision(models.Model):
    """One edit of a graph's annotations: node labels and supernode groups. `labels` and `supernodes` are the
    state after the edit (the first revision is the graph as it was computed or imported), `changes` what this
    edit changed, in words a reader of the history can follow."""

    graph = models.ForeignKey(Graph, on_delete=models.CASCADE, related_name="revisions")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    summary = models.CharField(max_length=300)
    changes = models.JSONField(default=list)
    labels = models.JSONField(default=dict)  # node_id -> label (clerp), the labelled nodes only
    supernodes = models.JSONField(default=list)  # [[label, node_id, ...], ...]

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.graph} revision {self.pk}"


class GraphComment(models.Model):
    """A comment on a graph. The wiki's comments (explanations.Comment) belong to a feature, so a graph has its
    own thread, rendered with the same markup (explanations' `markdown` filter)."""

    graph = models.ForeignKey(Graph, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="graph_comments"
    )
    body = models.TextField()
    hidden = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.graph}"


def graph_labels(graph: Graph) -> dict[str, str]:
    """node_id -> label (circuit-tracer's clerp) of the labelled nodes."""
    return {node["node_id"]: node["clerp"] for node in graph.data.get("nodes", []) if node.get("clerp")}


def graph_index_rebuild(graph: Graph) -> int:
    """The graph's GraphNode rows from its nodes' `source` and `index` keys (for the features that exist), and the
    pages of those features changed (their "In these graphs" panel). Returns how many nodes are linked."""
    sources = dict(graph.model.sources.values_list("slug", "pk"))
    wanted: dict[tuple[int, int], dict] = {}
    for node in graph.data.get("nodes", []):
        if node.get("source") in sources and isinstance(node.get("index"), int):
            wanted[(sources[node["source"]], node["index"])] = node
    features: dict[tuple[int, int], int] = {}
    if wanted:
        rows = Feature.objects.filter(source_id__in={source_id for source_id, _ in wanted})
        for feature_id, source_id, index in rows.values_list("pk", "source_id", "index"):
            if (source_id, index) in wanted:
                features[(source_id, index)] = feature_id
    old = set(graph.feature_nodes.values_list("feature_id", flat=True))
    graph.feature_nodes.all().delete()
    GraphNode.objects.bulk_create(
        GraphNode(
            graph=graph, feature_id=feature_id, node_id=wanted[key]["node_id"], influence=wanted[key].get("influence")
        )
        for key, feature_id in features.items()
    )
    feature_page_changed(old | set(features.values()))
    return len(features)


@receiver(post_save, sender=Graph)
def _graph_created(sender, instance: Graph, created: bool, raw: bool = False, **kwargs) -> None:
    """However a graph is made (computed, imported, in the admin), its feature index and its first revision come
    with it, in the same transaction."""
    if not created or raw:
        return
    graph_index_rebuild(instance)
    GraphRevision.objects.create(
        graph=instance,
        author=instance.author,
        summary=instance.get_origin_display(),
        labels=graph_labels(instance),
        supernodes=instance.data.get("qParams", {}).get("supernodes", []),
    )


@receiver(pre_delete, sender=Graph)
def _graph_deleted(sender, instance: Graph, **kwargs) -> None:
    """The pages of a deleted graph's features list it ("In these graphs"): they change once it is gone."""
    feature_ids = list(instance.feature_nodes.values_list("feature_id", flat=True))
    transaction.on_commit(lambda: feature_page_changed(feature_ids))


class FeatureConnection(models.Model):
    """A virtual weight between two features of one model: how much of `upstream`'s output direction `downstream`'s
    encoder reads through the residual stream (circuits/core/virtual_weights.py). Only each feature's strongest
    connections are stored (its top k both ways, computed by a CONNECTIONS run)."""

    upstream = models.ForeignKey("features.Feature", on_delete=models.CASCADE, related_name="downstream_connections")
    downstream = models.ForeignKey("features.Feature", on_delete=models.CASCADE, related_name="upstream_connections")
    weight = models.FloatField()
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upstream", "downstream"], name="connection_unique_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.upstream} -> {self.downstream} ({self.weight:+.3f})"


class FeatureCoactivation(models.Model):
    """Two features that fire on the same tokens, stored in `feature`'s row for each of its top others by Jaccard
    (circuits/core/coactivation.py), with the counts they were measured from."""

    feature = models.ForeignKey("features.Feature", on_delete=models.CASCADE, related_name="coactivations")
    other = models.ForeignKey("features.Feature", on_delete=models.CASCADE, related_name="+")
    jaccard = models.FloatField()
    lift = models.FloatField()
    together = models.PositiveIntegerField(help_text="Tokens on which both fire.")
    feature_fires = models.PositiveIntegerField(help_text="Tokens on which `feature` fires.")
    other_fires = models.PositiveIntegerField(help_text="Tokens on which `other` fires.")
    tokens = models.PositiveIntegerField(help_text="Tokens counted.")
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["feature", "-jaccard", "other"]
        constraints = [models.UniqueConstraint(fields=["feature", "other"], name="coactivation_unique_pair")]

    def __str__(self) -> str:
        return f"{self.feature} ~ {self.other} (Jaccard {self.jaccard:.3f})"
