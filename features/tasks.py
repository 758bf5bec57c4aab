"""django-q2 entry points. Thin: each calls a service."""

from .services import activation_runs, dictionary_runs


def start_activation_run(run_id: int) -> str:
    run = activation_runs.activation_run_start(run_id=run_id)
    return f"run {run.pk}: {run.status}"


def compute_activation_shard(shard_id: int) -> str:
    shard = activation_runs.activation_shard_compute(shard_id=shard_id)
    return f"shard {shard.pk}: {shard.status}"


def finalize_activation_run(run_id: int) -> str:
    run = activation_runs.activation_run_finalize(run_id=run_id)
    return f"run {run.pk}: {run.status}"


def train_dictionary(run_id: int) -> str:
    run = dictionary_runs.dictionary_run_train(run_id=run_id)
    return f"run {run.pk}: {run.status}"
