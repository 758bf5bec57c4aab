"""django-q2 entry points. Thin: each calls a service."""

from .services import evaluation_runs


def evaluate_source(run_id: int) -> str:
    run = evaluation_runs.evaluation_run_step(run_id=run_id)
    return f"run {run.pk}: {run.status}"
