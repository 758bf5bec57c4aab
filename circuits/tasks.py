"""django-q2 entry points. Thin: each calls a service."""

from .services import connections


def compute_connections(run_id: int) -> str:
    run = connections.connections_run_step(run_id=run_id)
    return f"run {run.pk}: {run.status}"
