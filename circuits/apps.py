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
        # Connections are one task that skips what it has done, so resuming queues it again.
        run_kind_register(
            kind=PipelineRun.Kind.CONNECTIONS,
            first_task="circuits.tasks.compute_connections",
            resume="circuits.services.connections.connections_run_resume",
        )
