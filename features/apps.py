from django.apps import AppConfig


class FeaturesConfig(AppConfig):
    name = "features"
    verbose_name = "Models, sources and features"

    def ready(self) -> None:
        from neuronpedia import warming

        from .models import PipelineRun
        from .services.runs import run_kind_register

        run_kind_register(
            kind=PipelineRun.Kind.ACTIVATIONS,
            first_task="features.tasks.start_activation_run",
            resume="features.services.activation_runs.activation_run_resume",
        )
        run_kind_register(
            kind=PipelineRun.Kind.DICTIONARY,
            first_task="features.tasks.train_dictionary",
            resume="features.services.dictionary_runs.dictionary_run_resume",
        )
        # Every django-q2 worker beats and watches for lost work (services/workers.py).
        from .services.workers import signals_connect

        signals_connect()
        # A starting server or worker loads the registered models (neuronpedia/warming.py).
        warming.register("language models", "features.inference.models_warm")
