"""Connector CRM settings.

Everything comes from the environment. With no environment at all the project runs on its
embedded default: SQLite, in-memory channel layer, eager Celery, files on local disk.
``DATABASE_URL`` switches to PostgreSQL, ``REDIS_URL`` to Redis for the channel layer, the
cache and the Celery broker. ``DJANGO_ENV=production`` turns on the strict checks.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

_DEV_SECRET_KEY = "dev-insecure-connector-crm-secret-key-change-me-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="" if PRODUCTION else _DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])

if PRODUCTION:
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs SECRET_KEY: at least 50 random characters."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ENV=production needs ALLOWED_HOSTS.")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "corsheaders",
    "channels",
    "accounts",
    "chats",
    "orders",
    "media",
    "operators",
    "workspace",
    "automation",
    "connectors",
    "compat",
]

MIDDLEWARE = [
    "crm.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # LocaleMiddleware, choosing by the signed-in user (so after authentication).
    "crm.i18n.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crm.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "crm.urls"
ASGI_APPLICATION = "crm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")

if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI every request may run in a different thread: persistent connections leak,
        # so connections come from psycopg's pool instead (CONN_MAX_AGE must stay 0).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            # Waiting for a pooled connection, then for a new one: both bounded, so a request
            # while PostgreSQL is down answers 503 within seconds instead of hanging (and within
            # daphne's 5 s WebSocket handshake timeout).
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=3),
        }
        # A pooled connection PostgreSQL cut (restart, failover) is replaced, not handed out.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        DATABASES["default"]["OPTIONS"].setdefault(
            "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3)
        )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                # WAL lets readers work while one writer writes; IMMEDIATE takes the write lock
                # at BEGIN so concurrent writers queue instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA busy_timeout=20000; PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker ---------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="crm")
# Every Redis call is bounded: with Redis down or stuck a request waits at most this long for
# it, then goes on without it (events, presence, rate limits are hints; see crm/outage.py).
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=1.0)
# Connections of each of a process's shared Redis pools, whatever its sockets: one for threads
# and one for the event loop (crm/redis.py: cache, presence, rate limits), one for the channel
# layer (crm/channel_layer.py). 3 × 6 and Celery's producer stay within 20 per process.
REDIS_POOL_SIZE = env.int("REDIS_POOL_SIZE", default=6)
# How long a caller waits for a free connection of such a pool (bursts queue for it).
REDIS_POOL_TIMEOUT = env.float("REDIS_POOL_TIMEOUT", default=5.0)
# Their connections' name in Redis' CLIENT LIST: <name>:<pid>:sync|async.
REDIS_CLIENT_NAME = env.str("REDIS_CLIENT_NAME", default="crm")

if REDIS_URL:
    # Named explicitly: django-environ would switch to django-redis when that is installed.
    CACHES = {
        "default": {
            # Django's RedisCache on the process's shared pools (crm/redis.py: bounded in
            # size and time), not a pool per thread and per socket's task.
            "BACKEND": "crm.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis' layer on a bounded pool (crm/channel_layer.py).
            "BACKEND": "crm.channel_layer.RedisChannelLayer",
            "CONFIG": {
                # socket_timeout=None: with redis-py 8 an idle consumer's blocking read otherwise
                # times out after a few seconds and the socket closes with 1011.
                # Connecting is bounded; sends are bounded by crm.events.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": None,
                        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
                    }
                ],
                "prefix": f"{REDIS_KEY_PREFIX}:asgi",
                # Messages waiting per Redis key before more are dropped. A group send reaches
                # all of a process's sockets through one key (channels_redis bundles them), so
                # this bounds the backlog of a whole server process, not of one socket.
                "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=10000),
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Live events (crm.hub) -------------------------------------------------------------------
# Kept for clients that resume (SPEC 6b), per user and per organization's staff: at least this
# long and at least this many events, at most EVENT_LOG_MAX_EVENTS.
EVENT_LOG_RETENTION_SECONDS = env.int("EVENT_LOG_RETENTION_SECONDS", default=900)
EVENT_LOG_MIN_EVENTS = env.int("EVENT_LOG_MIN_EVENTS", default=1000)
EVENT_LOG_MAX_EVENTS = max(env.int("EVENT_LOG_MAX_EVENTS", default=20000), EVENT_LOG_MIN_EVENTS)
# A client that missed more than this is told to refetch instead (resumed: false).
EVENT_RESUME_MAX_EVENTS = env.int("EVENT_RESUME_MAX_EVENTS", default=5000)
# Unsent bytes a WebSocket may hold (frames for Socket.IO) before it is closed as too slow
# (1013); it reconnects and resumes from its cursor.
WS_SEND_BUFFER_BYTES = env.int("WS_SEND_BUFFER_BYTES", default=1024 * 1024)
WS_SEND_BUFFER_FRAMES = env.int("WS_SEND_BUFFER_FRAMES", default=2000)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL.startswith("memory")
)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
    "socket_timeout": REDIS_SOCKET_TIMEOUT * 5,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    # A task whose worker died (kill -9, lost machine) is delivered again after this long:
    # every task is acked late and idempotent (see */tasks.py).
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often a worker looks for such tasks: every interval × throttle seconds.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
# Enqueueing with the broker down gives up after about a second (the work has a periodic
# safety net, or the task is enqueued again by the next write): it never holds a request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="crm")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict = {
    # Safety nets for the assignment queue; both are idempotent.
    "operators-presence-sweep": {
        "task": "operators.tasks.operators_presence_sweep",
        "schedule": 30.0,
    },
    "operators-backlog-drain": {
        "task": "operators.tasks.operators_backlog_drain",
        "schedule": 60.0,
    },
    # Unread counts are kept exact by every write; this rebuilds them from the pointers anyway.
    "chats-unread-counts-reconcile": {
        "task": "chats.tasks.unread_counts_reconcile",
        "schedule": env.int("UNREAD_RECONCILE_SECONDS", default=3600),
    },
}

CELERY_BEAT_SCHEDULE["connectors-webhook-updates-prune"] = {
    "task": "connectors.tasks.webhook_updates_prune",
    "schedule": 3600.0,
}
# Webhook deliveries and replies written down while the broker was unreachable.
CELERY_BEAT_SCHEDULE["connectors-resume"] = {
    "task": "connectors.tasks.connectors_resume",
    "schedule": 60.0,
}

# --- Messaging channels ---------------------------------------------------------------------
# One key or a comma-separated list (the first encrypts, all decrypt: rotation). Default derived
# from SECRET_KEY, so rotating SECRET_KEY without setting this makes stored secrets unreadable.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")
TELEGRAM_API_URL = env.str("TELEGRAM_API_URL", default="https://api.telegram.org").rstrip("/")
WHATSAPP_API_URL = env.str("WHATSAPP_API_URL", default="https://graph.facebook.com/v21.0").rstrip(
    "/"
)
# The site's public base URL (https://crm.example.com): links to attachments in API-channel
# callbacks are absolute with it. Empty: the links are paths.
CONNECTOR_PUBLIC_URL = env.str("CONNECTOR_PUBLIC_URL", default="").rstrip("/")
CONNECTOR_FILE_URL_SECONDS = env.int("CONNECTOR_FILE_URL_SECONDS", default=7 * 24 * 3600)
CONNECTOR_TIMEOUT_SECONDS = env.float("CONNECTOR_TIMEOUT_SECONDS", default=10.0)
CONNECTOR_MAX_RETRIES = env.int("CONNECTOR_MAX_RETRIES", default=8)
CONNECTOR_RETRY_BACKOFF = env.float("CONNECTOR_RETRY_BACKOFF", default=2.0)
CONNECTOR_RETRY_BACKOFF_MAX = env.float("CONNECTOR_RETRY_BACKOFF_MAX", default=300.0)
# Webhook deliveries kept for de-duplication (providers retry for up to a day).
CONNECTOR_UPDATE_RETENTION_HOURS = env.int("CONNECTOR_UPDATE_RETENTION_HOURS", default=72)
# Links chosen outside the server (bridge attachments, callback URLs, provider media links)
# are requested only at public addresses (connectors.fetch), except these hosts (as written in
# the URL: a bridge on the private network), or everywhere with ALLOW_PRIVATE (a closed site).
CONNECTOR_FETCH_ALLOW_PRIVATE = env.bool("CONNECTOR_FETCH_ALLOW_PRIVATE", default=False)
CONNECTOR_FETCH_ALLOWED_HOSTS = env.list("CONNECTOR_FETCH_ALLOWED_HOSTS", default=[])
CONNECTOR_FETCH_MAX_REDIRECTS = env.int("CONNECTOR_FETCH_MAX_REDIRECTS", default=5)
CONNECTOR_FETCH_DEADLINE_SECONDS = env.float("CONNECTOR_FETCH_DEADLINE_SECONDS", default=120.0)
# Where WhatsApp media links may point besides WHATSAPP_API_URL's host (Meta's CDN; ".x.com":
# that domain and its subdomains). The access token is sent only there.
WHATSAPP_MEDIA_HOSTS = env.list("WHATSAPP_MEDIA_HOSTS", default=[".fbsbx.com"])

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
# Emails are unique per organization (accounts.User), which EmailBackend knows.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
# Sign-ups without an organization: on the embedded default the demo organization, where the
# demo staff see them (crm/demo.py); in production a plain "default" one.
DEFAULT_ORGANIZATION = env.str("DEFAULT_ORGANIZATION", default="default" if PRODUCTION else "demo")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.i18n.JWTAuthentication",  # simplejwt, and the user's language
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "crm.parsers.BoundedJSONParser",  # orjson: deep nesting is a 400, not a 500
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "crm.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "crm.schema.AutoSchema",
    "EXCEPTION_HANDLER": "crm.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Connector CRM API",
    "DESCRIPTION": "Support CRM: chats, orders, media, operators. JSON over HTTPS with JWT.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "accounts.models.Role",
        "StaffRoleEnum": ["admin", "senior_operator", "operator"],
        "MessageKindEnum": "chats.models.MessageKind",
        "InternalChatKindEnum": ["direct", "group", "project"],
        "ChatStatusEnum": "chats.models.ChatStatus",
        "OrderStatusEnum": "orders.models.OrderStatus",
        "MediaKindEnum": "media.models.MediaKind",
        "StorageStateEnum": "media.models.StorageState",
        "InboxKindEnum": "chats.models.InboxKind",
        "PriorityEnum": "chats.models.Priority",
        "DeliveryEnum": "chats.models.Delivery",
        "AvailabilityEnum": "operators.models.Availability",
    },
}

# Throttle rates by scope: "<count>/<period>", period as s, m, h, d with an optional multiplier
# ("5/5m"). RATE_LIMITS overrides some of them: "login_email=5/5m,register_ip=1000/min".
RATE_LIMIT_DEFAULTS = {
    "login_ip": "20/5m",
    "login_email": "5/5m",
    "register_ip": "10/h",
    "messages_user": "200/min",
    "uploads_user": "60/h",
    "ws_frames": "50/10s",
}
RATE_LIMITS = {**RATE_LIMIT_DEFAULTS, **env.dict("RATE_LIMITS", default={})}

# --- Operators: assignment queue and reply suggestions --------------------------------------
OPERATOR_DEFAULT_CAPACITY = env.int("OPERATOR_DEFAULT_CAPACITY", default=5)
# An operator whose last socket closed keeps receiving chats for this long (a reload, a flaky
# network), then goes offline for auto-assignment.
OPERATOR_OFFLINE_GRACE_SECONDS = env.int("OPERATOR_OFFLINE_GRACE_SECONDS", default=120)
AI_API_KEY = env.str("AI_API_KEY", default="")
AI_BASE_URL = env.str("AI_BASE_URL", default="https://api.deepseek.com")
AI_MODEL = env.str("AI_MODEL", default="deepseek-chat")
AI_TIMEOUT_SECONDS = env.float("AI_TIMEOUT_SECONDS", default=8.0)

# --- Real-time (WebSocket /ws/) -------------------------------------------------------------
# A ticket from POST /api/auth/ws-ticket opens one WebSocket within this many seconds.
WS_TICKET_SECONDS = 30
# Each server process refreshes the presence (and viewer) entries of all its open connections
# this often, in one batched Redis round trip per thousand (chats/heartbeat.py); an entry not
# refreshed for PRESENCE_TIMEOUT_SECONDS belongs to a dead connection (or a dead process) and
# no longer counts.
PRESENCE_HEARTBEAT_SECONDS = env.int("PRESENCE_HEARTBEAT_SECONDS", default=15)
PRESENCE_TIMEOUT_SECONDS = env.int("PRESENCE_TIMEOUT_SECONDS", default=45)
# Socket.IO's own heartbeat: the server pings every SOCKETIO_PING_INTERVAL seconds (a long-poll
# request waits at most this long); a client silent for SOCKETIO_PING_TIMEOUT more is gone.
SOCKETIO_PING_INTERVAL = env.float("SOCKETIO_PING_INTERVAL", default=25)
SOCKETIO_PING_TIMEOUT = env.float("SOCKETIO_PING_TIMEOUT", default=20)

# --- I18n, static, media --------------------------------------------------------------------
# English and Russian (see crm/i18n.py for how a request's language is chosen). The catalogs
# in locale/ are compiled by `make install` (compilemessages); .mo files are not committed.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media-files/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "servestatic.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Uploaded media (media app) -------------------------------------------------------------
# Uploads are written to a private local store first (never served by URL, only by the
# access-checked download view). With STORAGE_BACKEND=s3 a Celery task copies each file to S3
# or Cloudflare R2 and removes the local copy; the web and worker processes must then share
# MEDIA_PRIVATE_ROOT (a volume) or run side by side.
MAX_UPLOAD_SIZE = env.int("MAX_UPLOAD_SIZE", default=26214400)
MEDIA_MAX_FILES_PER_UPLOAD = 10
MEDIA_MAX_IMAGE_PIXELS = env.int("MEDIA_MAX_IMAGE_PIXELS", default=50_000_000)
MEDIA_PRIVATE_ROOT = env.str("MEDIA_PRIVATE_ROOT", default="")  # "" = <MEDIA_ROOT>/private
MEDIA_SIGNED_URL_SECONDS = env.int("MEDIA_SIGNED_URL_SECONDS", default=300)
MEDIA_REMOTE_MAX_RETRIES = env.int("MEDIA_REMOTE_MAX_RETRIES", default=8)
MEDIA_REMOTE_RETRY_BACKOFF = env.float("MEDIA_REMOTE_RETRY_BACKOFF", default=10.0)  # seconds
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="local")
STORAGES["media_local"] = {"BACKEND": "media.storage.PrivateFileSystemStorage"}
if STORAGE_BACKEND == "s3":
    from media.storage import s3_options

    S3_BUCKET = env.str("S3_BUCKET", default="")
    if not S3_BUCKET:
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET.")
    STORAGES["media_remote"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": s3_options(
            bucket=S3_BUCKET,
            endpoint_url=env.str("S3_ENDPOINT_URL", default=""),
            region=env.str("S3_REGION", default=""),  # "auto" for Cloudflare R2
            access_key=env.str("S3_ACCESS_KEY_ID", default=""),
            secret_key=env.str("S3_SECRET_ACCESS_KEY", default=""),
            addressing_style=env.str("S3_ADDRESSING_STYLE", default="auto"),
            signed_url_seconds=MEDIA_SIGNED_URL_SECONDS,
        ),
    }
    CELERY_BEAT_SCHEDULE["media-resume-remote-uploads"] = {
        "task": "media.tasks.media_resume_remote_uploads",
        "schedule": 3600.0,
    }
elif STORAGE_BACKEND != "local":
    raise ImproperlyConfigured("STORAGE_BACKEND must be 'local' or 's3'.")
SERVESTATIC_USE_FINDERS = not PRODUCTION
SERVESTATIC_AUTOREFRESH = DEBUG

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the cabinet's JavaScript reads it for fetch()
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# How many proxies in front of the server append to X-Forwarded-For. 0: the socket's peer is the
# client and the header is ignored; N: the client is the Nth address from the right.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
# /metrics: with a token, only "Authorization: Bearer <token>"; without one, only loopback.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself) turns on multiprocess mode: every
# process of a machine writes there and /metrics adds them up. Empty the directory on deploy.
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    if env.bool("BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Error pages and reports (the debug page too) never show settings whose names look secret;
# URLs count, since DATABASE_URL, REDIS_URL and the broker URL carry passwords.
DEFAULT_EXCEPTION_REPORTER_FILTER = "crm.errors.SecretSettingsFilter"

# --- Logging --------------------------------------------------------------------------------
# LOG_FORMAT: "json" (one object per line; the production default) or "console" (readable).
# LOG_FILE: also write the same lines to this file. Every line carries the request id.
from crm.logging import configure_structlog, logging_config  # noqa: E402

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "console")
LOG_FILE = env.str("LOG_FILE", default="")
LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT, file=LOG_FILE)
configure_structlog()
INSTALLED_APPS.append("django_structlog")
MIDDLEWARE.insert(1, "django_structlog.middlewares.RequestMiddleware")
DJANGO_STRUCTLOG_CELERY_ENABLED = True
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = True

# --- Error reporting ------------------------------------------------------------------------
# SENTRY_DSN turns on Sentry (Django, Celery, Redis integrations); personal data is scrubbed.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from crm import sentry

    sentry.init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default=DJANGO_ENV),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
