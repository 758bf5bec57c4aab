"""Settings, all from the environment, with defaults that work on a fresh checkout.

Nothing set: SQLite in var/, the django-q2 ORM broker, the local-memory cache, DEBUG off.
SQLITE_PATH   where the SQLite database lives (default var/db.sqlite3)
DATABASE_URL  PostgreSQL (psycopg 3), e.g. postgres://postgres@127.0.0.1:5432/neuronpedia, or SQLite:
              sqlite:///relative/path or sqlite:////absolute/path
REDIS_URL     Redis for the django-q2 broker and the cache, e.g. redis://127.0.0.1:6379/0
DJANGO_DEBUG=1, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, EMAIL_URL-style SMTP settings below.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("NEURONPEDIA_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG")

# A development key is only acceptable while DEBUG is on; anywhere else the key must come from the
# environment so that sessions and password-reset links cannot be forged.
# `make demo` keeps a generated key in var/secret_key (scripts/demo.sh), so the demo runs with DEBUG off; a
# deployment sets DJANGO_SECRET_KEY, the same on every host.
SECRET_KEY_FILE = VAR_DIR / "secret_key"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or (
    SECRET_KEY_FILE.read_text().strip() if SECRET_KEY_FILE.is_file() else ""
)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set (nor var/secret_key). Set it, or set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = "development-only-insecure-key"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Full-text and trigram lookups on PostgreSQL; harmless on SQLite (psycopg 3 is always installed).
    "django.contrib.postgres",
    "django_q",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.apple",
    # The project's apps, lowest layer first (docs/architecture.md; tests/test_layers.py checks the imports).
    "accounts",
    "features",
    "explanations",
    "scoring",
    "circuits",
    "evaluations",
    "gameplay",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "front",
]

MIDDLEWARE = [
    # Compresses what the rest answers (pages are large: thousands of highlighted tokens). Django masks CSRF
    # tokens per response, which is what keeps compression from leaking them (BREACH).
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files, from STATIC_ROOT (collectstatic), compressed and cached for a year under hashed names.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "neuronpedia.urls"
WSGI_APPLICATION = "neuronpedia.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL and not DATABASE_URL.startswith("sqlite:"):
    # Connections are kept for DATABASE_CONN_MAX_AGE seconds. A health check (DATABASE_HEALTH_CHECKS=1) costs
    # every request that uses the database one more round trip (SELECT 1) before its first query; without it, a
    # connection the database dropped (a restart) fails the one request that finds it, and Django then closes
    # it, so the next request reconnects.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
            conn_health_checks=env_bool("DATABASE_HEALTH_CHECKS"),
        )
    }
    # Lets psycopg prepare the statements that ask for it (the feature endpoint's, neuronpedia.db.PreparedQuery);
    # Django's own cursors bind parameters on the client and never prepare.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
else:
    # sqlite:///relative/path (from the working directory) or sqlite:////absolute/path name the file as
    # SQLITE_PATH does; SQLite gets its own options either way (PostgreSQL's would make it fail to connect).
    SQLITE_PATH = (
        str(Path(dj_database_url.parse(DATABASE_URL)["NAME"]).absolute())
        if DATABASE_URL
        else os.environ.get("SQLITE_PATH", str(VAR_DIR / "db.sqlite3"))
    )
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            # WAL lets the web server read while a django-q2 worker writes; the busy timeout and
            # IMMEDIATE transactions make concurrent writers wait instead of failing with "locked".
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
            },
            # A file, not :memory:, so that worker processes started by tests see the test database.
            "TEST": {"NAME": str(VAR_DIR / "test-db.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and task queue -------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # Tolerant of an outage: the site keeps answering while Redis is down (neuronpedia/redis_cache.py).
    CACHES = {"default": {"BACKEND": "neuronpedia.redis_cache.OutageTolerantRedisCache", "LOCATION": REDIS_URL}}
    CACHES["feature_pages"] = {**CACHES["default"], "TIMEOUT": 24 * 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Rendered feature dashboards (features/dashboard_html.py), apart so that they never push the rate
    # limits' counters out. An entry is up to about half a megabyte (a run's 20 top and 48 interval examples
    # of 128 tokens): at most about 100 MB a process.
    CACHES["feature_pages"] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "feature-pages",
        "TIMEOUT": 24 * 3600,
        "OPTIONS": {"MAX_ENTRIES": 200},
    }

# Pipeline tasks run for minutes. `timeout` must stay below `retry`, or django-q2 hands a task that
# is still running to a second worker.
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "neuronpedia"),
    "workers": int(os.environ.get("Q_WORKERS", "1")),
    "recycle": 20,
    "timeout": int(os.environ.get("Q_TIMEOUT", "3600")),
    "retry": int(os.environ.get("Q_RETRY", "3660")),
    "max_attempts": 2,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "poll": 0.5,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
# Lost work (features/services/workers.py): every worker process beats every WORKER_BEAT_S seconds; a step
# claimed by a worker silent for WORKER_DEAD_AFTER_S, or a run with no step under way for RUN_LOST_AFTER_S, is
# queued again by the watchdog that every worker runs every WATCHDOG_EVERY_S seconds.
WORKER_BEAT_S = float(os.environ.get("WORKER_BEAT_S", "5"))
WORKER_DEAD_AFTER_S = float(os.environ.get("WORKER_DEAD_AFTER_S", "30"))
RUN_LOST_AFTER_S = float(os.environ.get("RUN_LOST_AFTER_S", "45"))
WATCHDOG_EVERY_S = float(os.environ.get("WATCHDOG_EVERY_S", "20"))
# An activation run that succeeds queues storing the semantic judge's word vectors of its model's windows
# (scoring/services/semantic_words.py), so that scoring them on a click encodes nothing.
SEMANTIC_WORDS_AFTER_RUNS = env_bool("SEMANTIC_WORDS_AFTER_RUNS", True)

# --- Auth and accounts ----------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm"}
ACCOUNT_USERNAME_BLACKLIST = ["admin", "api", "accounts", "u", "static", "media"]
SOCIALACCOUNT_ONLY = False
# allauth's own limits (its defaults for the rest): signups per address, failed logins per address and account.
ACCOUNT_RATE_LIMITS = {"signup": "10/h/ip", "login_failed": "10/m/ip,5/5m/key"}


def social_providers() -> dict:
    """Providers whose client ids are in the environment; the others stay switched off."""
    providers = {}
    for name in ("github", "google"):
        client_id = os.environ.get(f"{name.upper()}_CLIENT_ID")
        secret = os.environ.get(f"{name.upper()}_CLIENT_SECRET", "")
        if client_id:
            providers[name] = {"APPS": [{"client_id": client_id, "secret": secret, "key": ""}]}
    if os.environ.get("APPLE_CLIENT_ID"):
        # allauth's Apple app: client_id is the Services ID, secret the key's Key ID, key the Team ID,
        # and certificate_key the .p8 private key, which env files often carry with escaped newlines.
        providers["apple"] = {
            "APPS": [
                {
                    "client_id": os.environ["APPLE_CLIENT_ID"],
                    "secret": os.environ.get("APPLE_KEY_ID", ""),
                    "key": os.environ.get("APPLE_TEAM_ID", ""),
                    "settings": {"certificate_key": os.environ.get("APPLE_PRIVATE_KEY", "").replace("\\n", "\n")},
                }
            ]
        }
    return providers


SOCIALACCOUNT_PROVIDERS = social_providers()

# --- Email: printed to the console unless SMTP is configured ----------------------------------
if os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "neuronpedia@localhost")

# --- Static files, i18n ---------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise looks in it from the start, collected or not
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed copies after collectstatic; before it (tests, a fresh checkout) plain names.
    "staticfiles": {"BACKEND": "neuronpedia.static_storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # Behind HTTPS (manage.py check --deploy asks for these): redirect plain HTTP, and tell browsers to stay on it.
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
    if env_bool("DJANGO_BEHIND_HTTPS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# LOG_FORMAT=json: one JSON object a line, with each run's id, kind, status and event (neuronpedia/logs.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "neuronpedia.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            **({"formatter": "json"} if os.environ.get("LOG_FORMAT", "text") == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"features": {"level": os.environ.get("LOG_LEVEL", "INFO")}},
}

# --- The encyclopedia -----------------------------------------------------------------------
# Where uploaded models and dictionaries live, and the demo's pipeline parameters.
NEURONPEDIA_DATA_DIR = Path(os.environ.get("NEURONPEDIA_DATA_DIR", VAR_DIR / "data"))
FEATURES_PER_PAGE = 50
# Uploads from the web (bytes): a model checkpoint's files in all, a dictionary (cfg.json and weights), a corpus
# file. Files over 2.5 MB stream to temporary files as they arrive; past the limit the rest is not even stored.
NEURONPEDIA_MAX_UPLOAD_BYTES = int(os.environ.get("NEURONPEDIA_MAX_UPLOAD_BYTES", 2 * 1024**3))
NEURONPEDIA_MAX_DICTIONARY_BYTES = int(os.environ.get("NEURONPEDIA_MAX_DICTIONARY_BYTES", 1024**3))
NEURONPEDIA_MAX_CORPUS_BYTES = int(os.environ.get("NEURONPEDIA_MAX_CORPUS_BYTES", 256 * 1024**2))
# Where models run on the web (live inference, steering) and, by default, the runs started from the web or a
# command: auto|cpu|cuda|cuda:N|mps (auto: a GPU where there is one) and float32|bfloat16|float16 (float16 on a
# GPU only). See docs/pipelines.md#devices-and-precision.
NEURONPEDIA_DEVICE = os.environ.get("NEURONPEDIA_DEVICE", "auto")
NEURONPEDIA_DTYPE = os.environ.get("NEURONPEDIA_DTYPE", "float32")

# --- Explainers and scorers -----------------------------------------------------------------
# An OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, ...) for the openai-compatible explainer and the
# LLM judge; never required: the token-stats explainer and the offline judge need no LLM.
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
OPENAI_MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
OPENAI_TIMEOUT_S = float(os.environ.get("OPENAI_TIMEOUT_S", "60"))
OPENAI_MAX_RETRIES = int(os.environ.get("OPENAI_MAX_RETRIES", "3"))
# A local causal LM directory for the local-transformers explainer.
LOCAL_EXPLAINER_MODEL_PATH = os.environ.get("LOCAL_EXPLAINER_MODEL_PATH", "")

# --- The wiki's community: rate limits on writing and the comment edit window -------------------
# "count/period" per user (period s, m, h or d, e.g. "10/m"); see accounts/rate_limits.py.
WIKI_RATE_LIMITS = {
    "explanation": os.environ.get("WIKI_RATE_EXPLANATION", "60/h"),
    "comment": os.environ.get("WIKI_RATE_COMMENT", "10/m"),
    "vote": os.environ.get("WIKI_RATE_VOTE", "60/m"),
    "report": os.environ.get("WIKI_RATE_REPORT", "20/h"),
    "list": os.environ.get("WIKI_RATE_LIST", "60/m"),
    # Activation runs started from the web: each loads a model and runs it over a corpus on the workers.
    "run": os.environ.get("WIKI_RATE_RUN", "5/h"),
    # "Generate an explanation" and "Score" on a feature's page: each queues a run of live inference.
    "generate": os.environ.get("WIKI_RATE_GENERATE", "20/h"),
}
# Live inference on the web pages (test a feature, top features for a text, steering): per client address,
# since each request runs a model on this server. The API's inference throttles are API_RATE_INFERENCE_*.
NEURONPEDIA_INFERENCE_RATE = os.environ.get("NEURONPEDIA_INFERENCE_RATE", "30/m")
# Load the registered models and the search encoder in the background when a web server or a task worker
# starts (neuronpedia/warming.py), so that the first click that runs a model does not wait for the load.
NEURONPEDIA_WARM = os.environ.get("NEURONPEDIA_WARM", "1") == "1"
WIKI_COMMENT_EDIT_MINUTES = int(os.environ.get("WIKI_COMMENT_EDIT_MINUTES", "30"))
# Who may replace the text of someone else's explanation (anyone may add their own, or comment): an account at
# least this many days old, with one accepted contribution (an explanation of theirs that others voted up).
WIKI_NEW_ACCOUNT_DAYS = int(os.environ.get("WIKI_NEW_ACCOUNT_DAYS", "3"))
WIKI_EDITORS_NEED_ACCEPTED_CONTRIBUTION = os.environ.get("WIKI_EDITORS_NEED_ACCEPTED_CONTRIBUTION", "1") == "1"
# Every new text of an explanation is scored on the task queue at once by the offline scorers ("being scored"
# on its page until then); a revert carries the restored text's scores instead.
WIKI_SCORE_NEW_REVISIONS = os.environ.get("WIKI_SCORE_NEW_REVISIONS", "1") == "1"

# --- The API (/api/v1/ and the Neuronpedia-compatible /api/ routes): see api/ and README.md ----------
# Rates are "count/period" (period s, m, h or d). Per user for signed-in requests (session or X-Api-Key),
# per IP address otherwise; live inference (a forward pass each) has its own, stricter scopes.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that a missing or bad key answers 401 (with WWW-Authenticate), not 403.
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # enforces CSRF on writes
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.UserThrottle", "api.throttles.AnonThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_RATE_USER", "6000/h"),
        "anon": os.environ.get("API_RATE_ANON", "1200/h"),
        "inference_user": os.environ.get("API_RATE_INFERENCE_USER", "120/h"),
        "inference_anon": os.environ.get("API_RATE_INFERENCE_ANON", "30/h"),
        "export": os.environ.get("API_RATE_EXPORT", "60/h"),
    },
    "DEFAULT_PAGINATION_CLASS": "api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.BoundedJSONParser",
        "api.parsers.BoundedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "api.renderers.OrjsonRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.RememberingContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_VERSIONING_CLASS": None,
    "UNICODE_JSON": True,
    "STRICT_JSON": True,
}
# A JSON body larger than this is refused with 413 before it is parsed (uploads of features come in batches).
API_MAX_JSON_BYTES = int(os.environ.get("API_MAX_JSON_BYTES", 32 * 1024**2))
# Written as the creatorId/authorId of every row of a Neuronpedia-format export, as Neuronpedia's own exports do.
NEURONPEDIA_EXPORT_CREATOR_ID = os.environ.get("NEURONPEDIA_EXPORT_CREATOR_ID", "neuronpedia-django")

SPECTACULAR_SETTINGS = {
    "TITLE": "Neuronpedia (Django edition) API",
    "DESCRIPTION": (
        "Models, sources, features with their dashboards, activation examples, explanations with revisions and "
        "scores, comments, votes and lists. Reads are open; writes need a session (with its CSRF token) or an API "
        "key in the X-Api-Key header, created on the account page. Errors are always "
        '{"error": {"code", "message", "details"}}.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs pages load their JavaScript and CSS from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/(?:v1/)?",
    "PATH_CONVERTER_OVERRIDE": {"np_slug": str, "np_id": int},
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ExampleKindEnum": "features.models.ActivationExample.Kind",
        "SourceKindEnum": "features.models.Source.Kind",
        "RunStatusEnum": "features.models.PipelineRun.Status",
        "RunKindEnum": "features.models.PipelineRun.Kind",
    },
}
