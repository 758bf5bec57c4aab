"""Signals the features app sends to the apps above it, which it may not import."""

from django.dispatch import Signal

# Sent with run=<PipelineRun> once a run's success is committed (features/services/runs.py run_succeed): what a
# finished run makes possible next (the semantic judge's word vectors of an activation run's new windows) is
# queued by the app that owns it.
run_succeeded = Signal()
