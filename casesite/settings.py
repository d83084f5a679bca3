"""Settings for the Case Portal: one file, driven by environment variables.

Laptop defaults are safe and need nothing installed: SQLite in ``var/``, an embedded
Celery broker on the filesystem, and the built-in Kore.ai simulator. ``DJANGO_ENV=production``
demands a real ``SECRET_KEY`` and ``ALLOWED_HOSTS`` and turns on the secure settings.
Every variable is listed in ``.env.example``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime files (SQLite database, embedded broker, simulator state) live here, ignored by git.
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


DJANGO_ENV = os.environ.get("DJANGO_ENV", "development").strip().lower()
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be 'development' or 'production'.")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "" if PRODUCTION else _DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,[::1],testserver")

if PRODUCTION:
    # Refuse to start half-configured rather than run with laptop defaults on a server.
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("DJANGO_ENV=production needs SECRET_KEY (50+ random characters).")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ENV=production needs ALLOWED_HOSTS.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "cases",
]

MIDDLEWARE = [
    # First, so its duration and status cover everything below (static files included).
    "cases.web.request_log.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cases.web.middleware.RequestSizeLimitMiddleware",
    # Every error under /caseManagement/ in Kore's JSON form, whichever layer below made it.
    "cases.api.error_form.KoreErrorFormMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "cases.people.audit.AuditRequestMiddleware",
    "cases.web.middleware.UserTimezoneMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Counts failed sign-ins and locks out after AXES_FAILURE_LIMIT (django-axes).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "casesite.urls"
WSGI_APPLICATION = "casesite.wsgi.application"

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
                "cases.web.context_processors.saved_views",
            ],
        },
    },
]

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'portal.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the site and the delivery worker read while one of them writes;
    # the timeout makes a writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so Celery worker processes started by the tests share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# Stored times are UTC; pages show them in the user's zone (PORTAL_TIME_ZONE or a cookie).
TIME_ZONE = os.environ.get("PORTAL_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
# whitenoise reads this folder at startup; collectstatic fills it for production.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Kore.ai -----------------------------------------------------------------------------
# Hosts that may be reached over plain http or on a loopback/private address anyway
# (the demo stream talks to the built-in simulator on 127.0.0.1).
KORE_ALLOWED_HOSTS = env_list("KORE_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,::1")
KORE_CONNECT_TIMEOUT = env_float("KORE_CONNECT_TIMEOUT", 5.0)
KORE_READ_TIMEOUT = env_float("KORE_READ_TIMEOUT", 30.0)
# Where the simulator mounted at /simulator/ keeps the JWT apps it knows.
KORE_SIMULATOR_APPS_FILE = Path(os.environ.get("KORE_SIMULATOR_APPS_FILE", VAR_DIR / "simulator-apps.json"))
KORE_SIMULATOR_ENABLED = env_bool("KORE_SIMULATOR_ENABLED", default=not PRODUCTION)
# Seconds between the rounds of the simulator's Kore agent, which works the cases at "Kore" as its
# people would (statuses, assignees, priorities, new cases): 0 turns it off. Never in production.
KORE_SIMULATOR_AGENT_SECONDS = 0.0 if PRODUCTION else env_float("KORE_SIMULATOR_AGENT_SECONDS", 20.0)

# Delivery: retries, pacing, the sweep. See docs/delivery.md.
KORE_MAX_ATTEMPTS = env_int("KORE_MAX_ATTEMPTS", 8)
KORE_MAX_AGE_SECONDS = env_int("KORE_MAX_AGE_SECONDS", 24 * 3600)
KORE_RETRY_BASE_SECONDS = env_float("KORE_RETRY_BASE_SECONDS", 2.0)
KORE_RETRY_MAX_SECONDS = env_float("KORE_RETRY_MAX_SECONDS", 600.0)
KORE_RATE_WINDOW_SECONDS = env_float("KORE_RATE_WINDOW_SECONDS", 60.0)
KORE_PACING_HORIZON_SECONDS = env_float("KORE_PACING_HORIZON_SECONDS", 5.0)
# A case left "sending" this long had its worker die mid-call; the sweep takes it back.
KORE_SENDING_TIMEOUT_SECONDS = env_float("KORE_SENDING_TIMEOUT_SECONDS", KORE_READ_TIMEOUT + 30)
# A case left "queued" this long lost its task (broker down at commit time); the sweep re-enqueues.
KORE_QUEUED_TIMEOUT_SECONDS = env_float("KORE_QUEUED_TIMEOUT_SECONDS", 30.0)
KORE_SWEEP_INTERVAL_SECONDS = env_float("KORE_SWEEP_INTERVAL_SECONDS", 60.0)
# Looking a case up after a lost answer (cases/delivery/reconcile.py): at most this many getCases
# pages of this size, and this much slack around the window of the sends (clocks differ).
KORE_LOOKUP_MAX_PAGES = env_int("KORE_LOOKUP_MAX_PAGES", 10)
KORE_LOOKUP_PAGE_SIZE = env_int("KORE_LOOKUP_PAGE_SIZE", 50)
KORE_LOOKUP_MARGIN_SECONDS = env_float("KORE_LOOKUP_MARGIN_SECONDS", 300.0)

# Fair shares of each account's rate limit (cases/delivery/fair.py, docs/gateway.md): the weight
# of each kind of work waiting for Kore. A kind's floor is its weight over the sum; capacity a
# kind leaves idle goes to whoever waits. API clients split the api share by their own weights.
KORE_FAIR_SHARES = os.environ.get("KORE_FAIR_SHARES", "people=4,api=3,import=1,bulk=1,sync=1")

# The sync from Kore (cases/sync/, docs/sync.md): how often each stream is read by default, how
# far back a stream's first pass reads, and how far each pass reaches back past the last one.
KORE_SYNC_INTERVAL_SECONDS = env_int("KORE_SYNC_INTERVAL_SECONDS", 120)
KORE_SYNC_FIRST_DAYS = env_int("KORE_SYNC_FIRST_DAYS", 30)
KORE_SYNC_OVERLAP_SECONDS = env_int("KORE_SYNC_OVERLAP_SECONDS", 300)
KORE_SYNC_MAX_PAGES = env_int("KORE_SYNC_MAX_PAGES", 400)
KORE_SYNC_LEASE_SECONDS = env_int("KORE_SYNC_LEASE_SECONDS", 120)
KORE_SYNC_FULL_READ_MAX_PAGES = env_int("KORE_SYNC_FULL_READ_MAX_PAGES", 4000)
# How long a pass (or a full re-read) waits for its turn at the rate limit before it pauses.
KORE_SYNC_TURN_SECONDS = env_float("KORE_SYNC_TURN_SECONDS", 30.0)
# How often beat looks for streams whose pass is due.
KORE_SYNC_TICK_SECONDS = env_float("KORE_SYNC_TICK_SECONDS", 15.0)

# --- Notifications (cases/notify/, docs/notifications.md) ---------------------------------
# Links in e-mail and webhook payloads point here (the portal's public address).
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "").strip() or (
    f"https://{ALLOWED_HOSTS[0]}" if PRODUCTION and ALLOWED_HOSTS else "http://127.0.0.1:8000"
)
# E-mail: SMTP when EMAIL_HOST is set (always in production), else the console (make run).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "").strip()
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "").strip() or (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST or PRODUCTION
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = EMAIL_HOST or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "").strip() or "Case Portal <case-portal@localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# At most one e-mail per case per window (changes meanwhile are batched), and how often beat
# looks for due mail and fans events out to webhooks.
NOTIFY_MAIL_WINDOW_SECONDS = env_int("NOTIFY_MAIL_WINDOW_SECONDS", 300)
NOTIFY_MAIL_TICK_SECONDS = env_float("NOTIFY_MAIL_TICK_SECONDS", 30.0)
NOTIFY_TICK_SECONDS = env_float("NOTIFY_TICK_SECONDS", 5.0)
# Settled webhook messages and handled events are kept this long (the delivery log).
NOTIFY_KEEP_DAYS = env_int("NOTIFY_KEEP_DAYS", 30)
# Webhook receivers on internal addresses or plain http:// must be listed here (never Kore's list).
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,::1")
WEBHOOK_CONNECT_TIMEOUT = env_float("WEBHOOK_CONNECT_TIMEOUT", 5.0)
WEBHOOK_READ_TIMEOUT = env_float("WEBHOOK_READ_TIMEOUT", 10.0)
# Retries: base x 2^(n-1) seconds, capped, with jitter, for a day; then the message is given up.
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 5.0)
WEBHOOK_RETRY_MAX_SECONDS = env_float("WEBHOOK_RETRY_MAX_SECONDS", 3600.0)
WEBHOOK_RETRY_FOR_SECONDS = env_int("WEBHOOK_RETRY_FOR_SECONDS", 24 * 3600)
# An endpoint without a 2xx for this long is switched off, with a notice.
WEBHOOK_SWITCH_OFF_AFTER_SECONDS = env_int("WEBHOOK_SWITCH_OFF_AFTER_SECONDS", 24 * 3600)
# POSTs in flight per sender, messages per round, and how long one sender task runs.
WEBHOOK_CONCURRENCY = env_int("WEBHOOK_CONCURRENCY", 8)
WEBHOOK_BATCH = env_int("WEBHOOK_BATCH", 200)
WEBHOOK_RUN_SECONDS = env_float("WEBHOOK_RUN_SECONDS", 50.0)

# --- Cache -------------------------------------------------------------------------------
# The pacing cache must be shared by every web and worker process: Redis when CACHE_URL or a
# redis broker is given, else a table in the database (atomic add across processes).
CACHE_URL = os.environ.get("CACHE_URL", "")
_pacing_cache = (
    {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL.startswith(("redis://", "rediss://"))
    else {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "portal_cache",
        # Culling could drop claimed pacing slots; entries expire within two windows anyway.
        "OPTIONS": {"MAX_ENTRIES": 1_000_000, "CULL_FREQUENCY": 10},
    }
)
CACHES = {
    "default": _pacing_cache,
    "pacing": _pacing_cache,
    # Per process, no SQL: the dashboard's minute-old figures (cases/browse/dashboard.py).
    "dashboard": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dashboard"},
    # Per process, what it learned of streams that spares a query: the statuses, priorities and
    # assignees it last read or wrote (cases/sync/learn.py), their colours and categories for a
    # change's answer (cases/actions/apply.py), and which streams' changes are news.
    "learned": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "learned",
        "TIMEOUT": 300,
        "OPTIONS": {"MAX_ENTRIES": 20_000},
    },
}

# --- Celery ------------------------------------------------------------------------------
# Without CELERY_BROKER_URL an embedded broker on the filesystem needs no server (make run).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or "filesystem://"
CELERY_BROKER_FOLDER = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        # The broker's own runtime files (kombu writes ./control by default), kept in var/ too.
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    # Longer than any countdown we schedule, so Redis never redelivers a waiting retry early.
    else {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_FOLDER / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Delivery waits on the network, so threads serve it well; prefork is Celery's own default.
CELERY_WORKER_POOL = os.environ.get("CELERY_WORKER_POOL", "prefork")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "sweep-deliveries": {"task": "cases.tasks.sweep_deliveries", "schedule": KORE_SWEEP_INTERVAL_SECONDS},
    "sync-due-streams": {"task": "cases.sync.tasks.sync_due_streams", "schedule": KORE_SYNC_TICK_SECONDS},
    "sweep-actions": {"task": "cases.actions.tasks.sweep_actions", "schedule": KORE_SWEEP_INTERVAL_SECONDS},
    "notify-tick": {"task": "cases.notify.tasks.tick", "schedule": NOTIFY_TICK_SECONDS},
    "notify-mail": {"task": "cases.notify.tasks.send_mail", "schedule": NOTIFY_MAIL_TICK_SECONDS},
    "notify-digests": {"task": "cases.notify.tasks.send_digests", "schedule": 300.0},
    "notify-prune": {"task": "cases.notify.tasks.prune", "schedule": 3600.0},
}

# --- Security ----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
# Oversize bodies are refused before they are read: any request declaring more than
# MAX_REQUEST_BODY_BYTES gets 413 (room for a 5 MB import file and its form); form fields
# beyond DATA_UPLOAD_MAX_MEMORY_SIZE are refused when read.
# Error reports hide POST fields and frame variables named like secrets (cases/reporting.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "cases.web.reporting.PortalExceptionReporterFilter"
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 6 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# Sign-in lockout (django-axes): after 5 failures for a username from one address, 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_MINUTES", 15) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLED = env_bool("AXES_ENABLED", True)
# Content Security Policy (django-csp): no inline script or style, nothing from elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Single sign-on (OpenID Connect) -------------------------------------------------------
# With OIDC_ISSUER set, the sign-in page offers "Sign in with <OIDC_PROVIDER_NAME>" (cases/sso/).
# Endpoints come from the issuer's discovery document; the redirect URI to register at the
# provider is https://<portal>/accounts/sso/callback/. See docs/security.md.
OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "").strip()
OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "").strip()
OIDC_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "")
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "").strip() or "single sign-on"
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "").strip() or "groups"
# JSON: provider group -> {"role": "administrator|agent|viewer", "streams": ["st-…"]}; checked at startup.
OIDC_ROLE_MAP = os.environ.get("OIDC_ROLE_MAP", "")
# Only single sign-on on the sign-in page; superusers keep a local form at /accounts/login/local/.
OIDC_ONLY = env_bool("OIDC_ONLY", False)
# The provider's own allow-list for the outbound host guard (an internal address or plain http://).
OIDC_ALLOWED_HOSTS = env_list("OIDC_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,::1")
if OIDC_ISSUER and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET.")
if OIDC_ONLY and not OIDC_ISSUER:
    raise ImproperlyConfigured("OIDC_ONLY needs OIDC_ISSUER: nobody but superusers could sign in.")
if OIDC_ISSUER:
    # Signing out continues at the provider's end_session endpoint (RP-initiated logout), a
    # redirect from the sign-out form that browsers check against form-action.
    _issuer = urlsplit(OIDC_ISSUER)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_issuer.scheme}://{_issuer.netloc}")

# --- Logging -----------------------------------------------------------------------------
# LOG_FORMAT=json: one JSON object per line (casesite/logging.py), one line per request and per
# delivery attempt with case id and refId. Otherwise plain text for people at a terminal.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "casesite.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The request middleware writes the one line per request; runserver's own would double it.
        "django.server": {"level": "WARNING"},
    },
}

# --- API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cases.api.auth.KoreJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_RATES": {"api_client": os.environ.get("API_THROTTLE_RATE", "600/min")},
    "EXCEPTION_HANDLER": "cases.api.errors.kore_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Case Portal API",
    "DESCRIPTION": "A drop-in createCase proxy for Kore.ai and a read API over the portal's cases.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# How long the createCase proxy waits for Kore's answer before answering 202 (queued).
PROXY_WAIT_SECONDS = env_float("PROXY_WAIT_SECONDS", 25.0)
PROXY_MAX_BODY_BYTES = env_int("PROXY_MAX_BODY_BYTES", 1024 * 1024)
# The longest an API call waits for its turn at a paced stream's rate limit: a call that would
# wait longer at its client's share answers 429 with a Retry-After saying when it would not.
GATEWAY_QUEUE_SECONDS = env_float("GATEWAY_QUEUE_SECONDS", 10.0)
