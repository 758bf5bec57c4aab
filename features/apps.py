from django.apps import AppConfig


class FeaturesConfig(AppConfig):
    name = "features"
    verbose_name = "Models, sources and features"

    def ready(self) -> None:
        from .page_cache import connect_invalidation

        connect_invalidation()
