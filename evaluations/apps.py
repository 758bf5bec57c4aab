from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "Dictionary evaluations: quality metrics, comparisons and feature families"

    def ready(self) -> None:
        from features.models import PipelineRun
        from features.services.runs import run_kind_register

        # An evaluation is one step, done again whole when resumed.
        run_kind_register(
            kind=PipelineRun.Kind.EVALUATION,
            first_task="evaluations.tasks.evaluate_source",
            resume="evaluations.services.evaluation_runs.evaluation_run_resume",
        )
