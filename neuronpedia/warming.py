"""Warming: what a starting web server or task worker loads in the background before anyone asks (the
registered language models with their dictionaries, the sentence encoder of search by meaning), so that the
first visitor's click does not wait seconds for a checkpoint to load.

The site's own warmer imports every view and compiles every template, as a first request would. Apps
register theirs in ready() by dotted path (nothing heavy is imported until a warmer runs):
`warming.register("language models", "features.inference.models_warm")`. The WSGI application (runserver,
gunicorn) starts them in a daemon thread when it is loaded, and each django-q2 worker when it spawns; tests,
the shell and other management commands never do. NEURONPEDIA_WARM=0 turns it off. A warmer that fails is
logged and skipped: the request that needs it loads what it needs, as it would without warming.
"""

import logging
import threading
import time

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

_warmers: dict[str, str] = {}  # name -> dotted path of a function without arguments
_lock = threading.Lock()
_thread: threading.Thread | None = None


def register(name: str, dotted_path: str) -> None:
    _warmers[name] = dotted_path


def warm_now() -> dict[str, float]:
    """Run every registered warmer here and now; returns the seconds each took (failed ones are left out)."""
    took = {}
    for name, dotted_path in list(_warmers.items()):
        started = time.perf_counter()
        try:
            import_string(dotted_path)()
        except Exception:  # noqa: BLE001 - warming is an optimisation; the request path loads what it needs
            logger.warning("Warming %s failed", name, exc_info=True)
            continue
        took[name] = time.perf_counter() - started
        logger.info("Warmed %s in %.1f s", name, took[name])
    return took


def warm_in_background() -> threading.Thread | None:
    """Start warming in a daemon thread, once per process, unless settings.NEURONPEDIA_WARM is off."""
    global _thread
    if not getattr(settings, "NEURONPEDIA_WARM", False):
        return None
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=warm_now, name="neuronpedia-warming", daemon=True)
            _thread.start()
        return _thread


def pages_warm() -> int:
    """Import every view (through the URLconf) and compile the project's own templates (not those of the
    admin or allauth), as the first requests of a process would; returns the number of templates compiled."""
    from pathlib import Path

    from django.template import engines
    from django.template.exceptions import TemplateDoesNotExist, TemplateSyntaxError
    from django.urls import get_resolver

    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 - imports the URLconf and every view module
    resolver.reverse_dict  # noqa: B018 - what the first reverse() (the first {% url %}) builds
    compiled = 0
    for engine in engines.all():
        for directory in engine.template_dirs:
            if not Path(directory).resolve().is_relative_to(Path(settings.BASE_DIR).resolve()):
                continue
            for path in Path(directory).rglob("*.html"):
                try:
                    engine.get_template(path.relative_to(directory).as_posix())
                except (TemplateDoesNotExist, TemplateSyntaxError):
                    continue
                compiled += 1
    return compiled


register("pages", "neuronpedia.warming.pages_warm")


def _worker_spawned(sender, **kwargs) -> None:
    warm_in_background()


try:  # a django-q2 worker warms when it spawns (its cluster's parent process does not)
    from django_q.signals import post_spawn
except ImportError:  # pragma: no cover - django-q2 is in requirements.txt
    pass
else:
    post_spawn.connect(_worker_spawned, dispatch_uid="neuronpedia-warming")
