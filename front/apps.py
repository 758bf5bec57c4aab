from django.apps import AppConfig


class FrontConfig(AppConfig):
    name = "front"
    verbose_name = "Pages that show several domains at once"

    def ready(self) -> None:
        from .page_cache import connect_invalidation

        connect_invalidation()
