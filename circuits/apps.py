from django.apps import AppConfig


class CircuitsConfig(AppConfig):
    name = "circuits"
    verbose_name = "Circuits: connections between features, attribution graphs and interventions"

    def ready(self) -> None:
        from features.models import PipelineRun
        from features.services.runs import run_kind_register

        run_kind_register(
            kind=PipelineRun.Kind.ATTRIBUTION,
            first_task="circuits.tasks.compute_graph",
            resume="circuits.services.graphs.graph_run_resume",
        )
