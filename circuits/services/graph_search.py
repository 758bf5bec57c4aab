"""Searching attribution graphs by their words: the wiki's search page (front/), the graph index (/graphs/) and
the API's graph list all read graphs through graphs_matching().

A graph matches a query (the search box's syntax, explanations/core/websearch.py) when its search text
(GraphSearchText: title, description, prompt, target, node labels, supernode names) contains each clause at the
start of a word: a LIKE '%...%' on either database, not their full-text engines. Graphs are few (each is
computed for one prompt, at seconds to minutes of CPU, or imported by hand), their search texts are short, and
the test is the same on both databases; PostgreSQL serves it from a trigram index, SQLite scans the texts
(timings in bench/README.md, "Graph search"). Matches are ranked here, in Python, over at most
GRAPH_SEARCH_CANDIDATES of them (the newest): a match in the title counts double.
"""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.safestring import SafeString

from explanations.core import websearch
from explanations.core.websearch import ParsedQuery
from explanations.search import HEADLINE_START, HEADLINE_STOP
from explanations.search_results import highlight

from ..core.graph_search import clause_needle, graph_rank, marked_excerpt, matched_line
from ..models import Graph, GraphNode, GraphSearchText

GRAPH_SEARCH_CANDIDATES = 1_000
MATCHED_LINE_LENGTH = 120


@dataclass
class GraphHit:
    graph: Graph  # with its model and author; its data and params deferred
    excerpt: SafeString  # the prompt, its words that match marked
    # Where it matched, in the search text's words, when neither its title nor its prompt shows a match (a
    # label, a supernode, the description, the target); "" otherwise.
    matched: str
    score: float


@dataclass
class GraphResults:
    hits: list[GraphHit]
    total: int  # how many graphs matched, counting at most GRAPH_SEARCH_CANDIDATES
    truncated: bool  # more than GRAPH_SEARCH_CANDIDATES matched: only the newest of them were ranked


def _parsed(query: ParsedQuery | str) -> ParsedQuery:
    return query if isinstance(query, ParsedQuery) else websearch.parse(query)


def _text_condition(query: ParsedQuery) -> Q:
    """The query as a condition on GraphSearchText.text: any alternative, each clause of it (or its absence)."""
    condition = Q(pk__in=[])
    for alternative in query.alternatives:
        together = Q()
        for clause in alternative:
            contains = Q(text__contains=clause_needle(clause))
            together &= ~contains if clause.negated else contains
        condition |= together
    return condition


def graphs_matching(graphs: QuerySet[Graph], query: ParsedQuery | str) -> QuerySet[Graph]:
    """The graphs of `graphs` whose search text matches the query (none for a query with nothing to search)."""
    query = _parsed(query)
    if not query.searchable:
        return graphs.none()
    return graphs.filter(pk__in=GraphSearchText.objects.filter(_text_condition(query)).values("graph_id"))


def graphs_in_scope(*, model_slug: str = "", source_slug: str = "") -> QuerySet[Graph]:
    """Graphs of one model (its slug), and of those, the ones with a node on a feature of one source (a source's
    slug, on any model when no model is given). A graph whose nodes are not linked to our features (an import
    whose sources we do not have) has no source, so a source filter leaves it out."""
    graphs = Graph.objects.all()
    if model_slug:
        graphs = graphs.filter(model__slug=model_slug)
    if source_slug:
        nodes = GraphNode.objects.filter(graph=OuterRef("pk"), feature__source__slug=source_slug)
        graphs = graphs.filter(Exists(nodes))
    return graphs


def graph_search(
    *, query: ParsedQuery | str, model_slug: str = "", source_slug: str = "", offset: int = 0, limit: int = 20
) -> GraphResults:
    """The graphs in scope that match, best first (then newest), from `offset`, at most `limit` of them."""
    query = _parsed(query)
    if not query.searchable:
        return GraphResults(hits=[], total=0, truncated=False)
    texts = GraphSearchText.objects.filter(_text_condition(query))
    if model_slug or source_slug:
        texts = texts.filter(graph__in=graphs_in_scope(model_slug=model_slug, source_slug=source_slug))
    # Newest first by id, not created_at: no read of the graphs' rows, whose data SQLite would walk past.
    candidates = list(texts.order_by("-graph_id").values_list("graph_id", "text")[: GRAPH_SEARCH_CANDIDATES + 1])
    truncated = len(candidates) > GRAPH_SEARCH_CANDIDATES
    candidates = candidates[:GRAPH_SEARCH_CANDIDATES]
    # sorted() is stable: equal ranks stay newest first.
    ranked = sorted(((graph_rank(query, text), pk, text) for pk, text in candidates), key=lambda row: -row[0])
    page = ranked[offset : offset + limit]
    by_pk = Graph.objects.select_related("model", "author").defer("data", "params").in_bulk([pk for _, pk, _ in page])
    hits = []
    for score, pk, text in page:
        graph = by_pk[pk]
        excerpt = marked_excerpt(graph.prompt, query, start=HEADLINE_START, stop=HEADLINE_STOP)
        matched = matched_line(query, text, shown=[graph.prompt])[:MATCHED_LINE_LENGTH]
        hits.append(GraphHit(graph=graph, excerpt=highlight(excerpt), matched=matched, score=score))
    return GraphResults(hits=hits, total=len(candidates), truncated=truncated)
