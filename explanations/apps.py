from django.apps import AppConfig


class ExplanationsConfig(AppConfig):
    name = "explanations"

    def ready(self) -> None:
        from neuronpedia import warming

        # A starting server or worker loads the sentence encoder of search by meaning (neuronpedia/warming.py).
        warming.register("search encoder", "explanations.core.embeddings.warm")
