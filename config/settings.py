"""Settings for margindesk, read from the environment (django-environ).

One module for every deployment: local defaults work on a developer machine with
PostgreSQL and Redis on 127.0.0.1; production sets the variables listed in .env.example.
Secrets have no default outside DEBUG.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

_DEV_SECRET = "insecure-dev-only-key-never-used-in-production-0123456789abcdef"  # noqa: S105
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET if DEBUG else None)
# rotation: the previous key(s) keep sessions and signed links valid until they expire
SECRET_KEY_FALLBACKS = [key for key in env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[]) if key]
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is false (see .env.example)."
    )

# Key for identity and bank-account numbers encrypted at rest (Fernet, urlsafe base64, 32 bytes).
_DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default=_DEV_FIELD_KEY if DEBUG else None)
if not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is required when DJANGO_DEBUG is false (see .env.example)."
    )
# Rotation (docs/OPERATIONS.md "Key rotation"): the previous keys still decrypt until
# `manage.py field_keys_rotate` has re-encrypted every value; lookup digests keep their own key.
FIELD_ENCRYPTION_KEY_FALLBACKS = [
    key for key in env.list("FIELD_ENCRYPTION_KEY_FALLBACKS", default=[]) if key
]
FIELD_DIGEST_KEY = env.str("FIELD_DIGEST_KEY", default="") or (
    None if FIELD_ENCRYPTION_KEY_FALLBACKS else FIELD_ENCRYPTION_KEY
)
if not FIELD_DIGEST_KEY:
    raise ImproperlyConfigured(
        "FIELD_DIGEST_KEY is required once FIELD_ENCRYPTION_KEY_FALLBACKS is set: the key the "
        "stored digests were made with (the encryption key before the first rotation)."
    )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

DESK_NAME = env.str("DESK_NAME", default="Margindesk Securities Co., Ltd.")
DESK_LICENSE = env.str("DESK_LICENSE", default="CSRC margin-financing licence (demo)")
# the bank of the client money account that receives investors' deposits (its number is the
# client_bank ledger account's external account, set by treasury): shown in the portal's
# deposit instructions; empty: the instructions give the number without a bank name
DESK_CLIENT_BANK_NAME = env.str("DESK_CLIENT_BANK_NAME", default="")
OTP_TOTP_ISSUER = DESK_NAME

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",  # API tokens: only a digest is stored (accounts.models.ApiToken)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "pgtrigger",
    "django_otp",
    "accounts.apps.AuthenticatorDevicesConfig",  # django_otp.plugins.otp_totp, named
    "axes",
    "csp",
    "accounts",
    "custody",
    "compliance",
    "lending",
    "reports",
]

MIDDLEWARE = [
    # first: the request id is in every log line of the request (config/ops/request_id.py),
    # then django-prometheus's timer (its second half is just before axes, below)
    "config.ops.request_id.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # after OTP (verified or not) and messages: a staff write on a page needs a second factor
    "accounts.middleware.SecondFactorForStaffWrites",
    # an empty 405 (a form's address opened with GET) gets templates/405.html, in the layout
    "config.method_not_allowed.MethodNotAllowedPage",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # request latency by route (the URL pattern's name): django-prometheus (config/ops/metrics.py)
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # last, as django-axes asks: it answers a locked-out sign-in with 429
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # the desk's number filters (amount, count, percent, rate) in every template
            "builtins": ["accounts.templatetags.desk_numbers"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.desk",
                "compliance.context_processors.calendar_banner",
                "config.staff_nav.staff_nav",
            ],
        },
    },
]

# PostgreSQL is the only database, tests included.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/margindesk"),
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL must point at PostgreSQL, got engine {DATABASES['default']['ENGINE']!r}."
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
    "DATABASE_CONNECT_TIMEOUT", default=5
)
if env.str("DATABASE_TEST_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env.str("DATABASE_TEST_NAME")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# History rows keep the full reason for a change, not the library's default 100 characters.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses sign-ins from a locked-out e-mail and address
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in throttling: 5 failures for the same e-mail from the same address lock it for an hour.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(hours=env.int("AXES_COOLOFF_HOURS", default=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: Simplified Chinese by default, English beside it.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="desk@margindesk.local")

# Production hardening; every switch follows DEBUG unless the environment says otherwise.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"

# Content security policy (django-csp 4): scripts, styles, images, fonts and fetches come from
# this site only. No 'unsafe-inline' anywhere: templates have no inline <script>, <style>,
# style= or on*= attributes (event handlers live in static/js, layout in static/css; charts are
# SVG with presentation attributes such as fill=, which CSP does not govern), and the API docs
# use drf-spectacular's split Swagger view, whose init script has its own URL. data: images
# are Swagger UI's icons. PDF templates (reports/pdf) are rendered by WeasyPrint, never served.
# tests/test_csp.py renders the main pages and fails on any inline script or handler.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "accounts.api_auth.ApiTokenAuthentication",
    ],
    # a view setting its own permission_classes lists SecondFactorForStaffWrites too
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api_permissions.SecondFactorForStaffWrites",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "accounts.api_pagination.Pagination",  # limit <= 500
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "accounts.api_errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}

# API tokens (django-rest-knox, accounts.api_tokens): hashed at rest, expiring, one per device.
# Desk staff tokens live hours, investors' and machines' days; a staff token issued with a
# current authenticator code carries the second factor for API_TOKEN_SECOND_FACTOR_MINUTES.
KNOX_TOKEN_MODEL = "accounts.ApiToken"  # noqa: S105  (a model name, not a secret)
# knox's own token table is never made: its model is swapped out for accounts.ApiToken (its
# migrations would create it anyway, and a stray table referencing users blocks flushes)
MIGRATION_MODULES = {"knox": None}
API_TOKEN_TTL_STAFF_HOURS = env.int("API_TOKEN_TTL_STAFF_HOURS", default=8)
API_TOKEN_TTL_INVESTOR_DAYS = env.int("API_TOKEN_TTL_INVESTOR_DAYS", default=30)
API_TOKEN_TTL_MACHINE_DAYS = env.int("API_TOKEN_TTL_MACHINE_DAYS", default=90)
API_TOKEN_SECOND_FACTOR_MINUTES = env.int("API_TOKEN_SECOND_FACTOR_MINUTES", default=60)
API_TOKENS_PER_USER = env.int("API_TOKENS_PER_USER", default=20)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_STAFF_HOURS),  # each token gets its own expiry
    "TOKEN_PREFIX": "mdk_",  # recognisable by secret scanners
    "AUTO_REFRESH": False,  # a hard expiry: a token is never extended by use
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "margindesk API",
    "DESCRIPTION": "REST API of a compliant margin-lending desk. Money and ratios are "
    "decimal strings: money in yuan with 2 places, ratios, haircuts and rates as fractions "
    '(a maintenance ratio of 406.16% is "4.0616", a 6.5% annual rate "0.065000"); pages '
    "show them as percentages. Errors are {code, message, extra}: the code and extra.field "
    "stay English for machines, the message follows the request's language (Accept-Language). "
    "Every write (POST, PUT, PATCH, DELETE) by desk staff needs a session verified with the "
    "authenticator code (TOTP); "
    "otherwise it answers 403 second_factor_required. A staff API token carries the second "
    "factor only when it was issued with a current authenticator code (otp_code), and only "
    "for API_TOKEN_SECOND_FACTOR_MINUTES: without it a staff token reads but never writes. "
    "Investors and the machine feeds write with their tokens.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets come from the sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # choice sets of fields sharing a name ("status") get their own component names
    "ENUM_NAME_OVERRIDES": {
        "LiquidationOrderStatusEnum": "lending.liquidation.models.LiquidationOrderStatus",
        "LiquidationPlanStatusEnum": "lending.liquidation.models.LiquidationPlanStatus",
        "LiquidationLineSideEnum": "lending.liquidation.models.PlanLineSide",
        "EndOfDayStatusEnum": "reports.eod.models.EndOfDayStatus",
        "EndOfDayStepStatusEnum": "reports.eod.models.EndOfDayStepStatus",
        "StatementRunStatusEnum": "reports.models.StatementRunStatus",
    },
    # every operation also documents its {code, message, extra} error answers
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.api_schema.error_responses",
    ],
}

# FIX 4.4 session to the broker (lending/orders/fix_session.py); the demo and the tests point it
# at the simulated exchange on loopback (manage.py run_exchange). Defaults only under DEBUG.
FIX_HOST = env.str("FIX_HOST", default="127.0.0.1" if DEBUG else None)
FIX_PORT = env.int("FIX_PORT", default=9878 if DEBUG else None)
FIX_SENDER_COMP_ID = env.str("FIX_SENDER_COMP_ID", default="MARGINDESK" if DEBUG else None)
FIX_TARGET_COMP_ID = env.str("FIX_TARGET_COMP_ID", default="SIMEXCH" if DEBUG else None)
FIX_STORE_DIR = env.str(
    "FIX_STORE_DIR", default=str(BASE_DIR / "var" / "fix" / "store") if DEBUG else None
)
FIX_LOG_DIR = env.str(
    "FIX_LOG_DIR", default=str(BASE_DIR / "var" / "fix" / "log") if DEBUG else None
)
_FIX_UNSET = [
    name
    for name in (
        "FIX_HOST",
        "FIX_PORT",
        "FIX_SENDER_COMP_ID",
        "FIX_TARGET_COMP_ID",
        "FIX_STORE_DIR",
        "FIX_LOG_DIR",
    )
    if globals()[name] in (None, "")
]
if _FIX_UNSET:
    # no silent fallback to a simulator: without its broker the desk cannot trade or liquidate
    raise ImproperlyConfigured(
        f"the FIX session to the broker is not configured: set {', '.join(_FIX_UNSET)} "
        "(see .env.example)"
    )

# Client-money currencies reconciled every day (the end of day's reconciliation step).
CUSTODY_CLIENT_CURRENCIES = env.list("CUSTODY_CLIENT_CURRENCIES", default=["CNY"])

# Celery: Redis broker, JSON only, late acks with prefetch 1 so a dying worker loses nothing.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="redis://127.0.0.1:6379/1")
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="margindesk")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_RESULT_EXPIRES = timedelta(days=1)
# Redis redelivers an unacked task (its worker died) after the visibility timeout.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 60)
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = False
# the worker's log lines show the request id of the web request that queued the task
# (config/ops/request_id.py; "task-<id>" for a task beat started)
CELERY_WORKER_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] [%(request_id)s] %(message)s"
)
CELERY_WORKER_TASK_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] [%(request_id)s] "
    "%(task_name)s[%(task_id)s]: %(message)s"
)
# Later issues add their periodic jobs here (mark-to-market, interest, reconciliation, filings).
CELERY_BEAT_SCHEDULE: dict = {
    # lending mark-to-market: a full-book run every MTM_INTERVAL_SECONDS, started only during
    # Shanghai sessions on trading days (the task checks; outside them it does nothing).
    "lending-mtm-run": {
        "task": "lending.tasks.mtm_run_scheduled",
        "schedule": timedelta(seconds=env.int("MTM_INTERVAL_SECONDS", default=60)),
    },
    # ... and its sweeper: a run without progress (its queued shards lost with a Redis restart,
    # a retry given up) has those shards enqueued again from the run's rows in PostgreSQL.
    "lending-mtm-resume-stale": {
        "task": "lending.tasks.mtm_resume_stale_runs",
        "schedule": timedelta(seconds=60),
    },
    # Execution reports stored by the order gateway but not applied (their task lost).
    "lending-execution-reports-sweep": {
        "task": "lending.tasks.execution_reports_sweep",
        "schedule": timedelta(seconds=30),
    },
    # The close: orders never sent expire (sent ones expire by the exchange's report).
    "lending-orders-expire-unsent": {
        "task": "lending.tasks.orders_expire_unsent",
        "schedule": crontab(hour=15, minute=5, day_of_week="mon-fri"),
    },
    # The trading calendar's horizon: warn from the dated period before its last known session.
    "compliance-calendar-horizon-check": {
        "task": "compliance.tasks.calendar_horizon_check",
        "schedule": crontab(hour=7, minute=30),
    },
    # The e-mail outbox: notices a task did not send after their commit (broker down, worker lost).
    "notices-deliver-pending": {
        "task": "lending.tasks.notices_deliver_pending",
        "schedule": timedelta(seconds=60),
    },
    # The balance mirror mark-to-market reads, checked against the ledger (and repaired from
    # it) each trading morning before the call auction.
    "lending-risk-mirror-verify": {
        "task": "lending.tasks.risk_mirror_verify_daily",
        "schedule": crontab(hour=8, minute=45, day_of_week="mon-fri"),
    },
    # Corporate actions (dividends, bonus shares, splits, rights) whose ex-date or pay date
    # has come: booked before the call auction, after the mirror check; idempotent.
    "lending-corporate-actions": {
        "task": "lending.tasks.corporate_actions_process_daily",
        "schedule": crontab(hour=8, minute=50, day_of_week="mon-fri"),
    },
    "desk-heartbeat": {
        "task": "config.celery.heartbeat",
        "schedule": timedelta(minutes=5),
    },
    # beat's own heartbeat for /healthz: the beat process records the time whenever it sends
    # a task (config/celery.py); this entry makes sure it sends one every minute
    "ops-beat-heartbeat": {
        "task": "config.celery.beat_heartbeat",
        "schedule": timedelta(seconds=60),
    },
    # The end of day (reports.eod, docs/eod.md): every day after the close, one run per date:
    # interest (every calendar day, catching up missed days), penalty interest, then on
    # trading days overdue calls and reminders, maturities, the client-money requirement,
    # the internal reconciliation and the daily filings (as of 17:00 desk time: that step
    # waits for it). Its sweeper resumes a run whose step shows no progress (lost messages).
    # (16:50: the filings step's tasks wait for 17:00 with an ETA, which must stay well under
    # the broker's visibility timeout, CELERY_TASK_TIME_LIMIT + 60 s, or Redis hands the
    # waiting message to a second worker)
    "reports-end-of-day": {
        "task": "reports.tasks.eod_run_daily",
        "schedule": crontab(hour=16, minute=50),
    },
    "reports-end-of-day-resume-stale": {
        "task": "reports.tasks.eod_resume_stale",
        "schedule": timedelta(minutes=2),
    },
    # reports: last month's client statements.
    "reports-monthly-statements": {
        "task": "reports.tasks.prepare_monthly_statements",
        "schedule": crontab(hour=6, minute=0, day_of_month=1),
    },
    # lending book: monthly collection of the accrued interest from cash (the daily accrual is
    # the end of day's first step).
    "lending-interest-collect": {
        "task": "lending.tasks.interest_collect_monthly",
        "schedule": crontab(hour=7, minute=0, day_of_month=1),
    },
    # lending margin calls: overdue escalation every 5 minutes (deadlines fall at 15:00);
    # staged warning and call reminders hourly. Both are idempotent.
    "lending-margin-calls-escalate": {
        "task": "lending.tasks.margin_calls_escalate_overdue",
        "schedule": crontab(minute="*/5"),
    },
    "lending-margin-reminders": {
        "task": "lending.tasks.margin_reminders_send",
        "schedule": crontab(minute=10),
    },
    # lending maturity (DOMAIN.md "Maturity and extension"): before the session on trading
    # days, reminders 10 and 3 trading days before due dates, overdue financings and their
    # forced-close calls (idempotent; penalty interest accrues with the daily interest)
    "lending-maturity-process": {
        "task": "lending.tasks.maturity_process",
        "schedule": crontab(hour=8, minute=40, day_of_week="mon-fri"),
    },
}

# Where reports' generation tasks (filings, statements) go; empty: the default queue.
REPORTS_TASK_QUEUE = env.str("REPORTS_TASK_QUEUE", default="") or None

# The end of day (reports.eod): who is told when a step fails (default: every active
# operations user with an e-mail address); how long a running step may show no progress
# before beat's sweeper starts it again; the shards (Celery tasks) of the sharded steps.
EOD_ALERT_EMAILS = env.list("EOD_ALERT_EMAILS", default=[])
EOD_STALE_SECONDS = env.int("EOD_STALE_SECONDS", default=CELERY_TASK_TIME_LIMIT + 120)
EOD_SHARDS = env.int("EOD_SHARDS", default=4)

# Operations (docs/OPERATIONS.md, config/ops/): /healthz fails (503) when a check named here
# fails; the worker check waits this long for a Celery worker's answer; beat's heartbeat may be
# this old. /metrics answers these networks, or anyone with the bearer token when one is set.
HEALTHZ_REQUIRED = env.list(
    "HEALTHZ_REQUIRED", default=["database", "broker", "worker", "beat", "calendar"]
)
HEALTHZ_WORKER_TIMEOUT = env.float("HEALTHZ_WORKER_TIMEOUT", default=1.0)
BEAT_HEARTBEAT_MAX_AGE = env.int("BEAT_HEARTBEAT_MAX_AGE", default=180)
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_CELERY_QUEUES = env.list("METRICS_CELERY_QUEUES", default=[])
# a load balancer probes /healthz and Prometheus scrapes /metrics over plain HTTP inside
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# Logs: every line carries the request id (config/ops/request_id.py); LOG_FORMAT=json writes
# one JSON object a line for a log collector.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "accounts.logging.RedactSensitiveFilter"},
        "request_id": {"()": "config.ops.request_id.RequestIdFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"},
        "json": {"()": "config.ops.request_id.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["redact", "request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
