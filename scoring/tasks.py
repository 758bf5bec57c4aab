"""django-q2 entry points. Thin: each calls a service."""

from . import services


def run_step(run_id: int) -> str:
    run = services.run_step(run_id=run_id)
    return f"run {run.pk}: {run.status}"
