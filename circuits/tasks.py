"""django-q2 entry points. Thin: each calls a service."""

from .services import connections, graphs


def compute_graph(run_id: int) -> str:
    graph = graphs.graph_compute(run_id=run_id)
    return f"run {run_id}: graph {graph.slug}" if graph else f"run {run_id}: failed"


def compute_connections(run_id: int) -> str:
    run = connections.connections_run_step(run_id=run_id)
    return f"run {run.pk}: {run.status}"
