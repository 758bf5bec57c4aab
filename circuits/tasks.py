"""django-q2 entry points. Thin: each calls a service."""

from .services import graphs


def compute_graph(run_id: int) -> str:
    graph = graphs.graph_compute(run_id=run_id)
    return f"run {run_id}: graph {graph.slug}" if graph else f"run {run_id}: failed"
