import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")
application = get_wsgi_application()

# Loaded by runserver and gunicorn (not by tests or other commands): load the models before the first click.
from neuronpedia import warming  # noqa: E402

warming.warm_in_background()
