"""Sparkroom settings: one module, every knob read from the environment with a safe default.

Embedded default (no env): SQLite, in-process channel layer, in-memory Celery broker with a
worker thread inside the web process. Production: set DATABASE_URL and REDIS_URL.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Security: secret key, hosts and origins, HTTPS, passwords, login throttle, CSP. ---
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]")
# Origins other than the site's own that may post forms and open WebSockets (scheme://host[:port], exact).
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Where the embedded mode keeps what it generates for itself (the secret key file).
SPARKROOM_DATA_DIR = Path(os.environ.get("SPARKROOM_DATA_DIR", BASE_DIR / ".data"))
LOCAL_HOSTS = {"127.0.0.1", "localhost", "testserver", "[::1]", "::1"}
# Production mode: shared services, or a site served to other machines without DEBUG.
PRODUCTION_MODE = bool(os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL")) or (
    not DEBUG and any(host not in LOCAL_HOSTS and not host.endswith(".localhost") for host in ALLOWED_HOSTS)
)


def embedded_secret_key(path: Path) -> str:
    """The embedded mode's secret key: generated once, kept in `path` (mode 0600), read back on every start."""
    import secrets
    import tempfile

    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # created with mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
            try:
                os.link(temporary, path)  # atomic and never overwrites: a concurrent first start keeps one key
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    key = path.read_text().strip()
    if len(key) < 50:
        raise ImproperlyConfigured(f"{path} holds no usable secret key: delete it to have a new one generated")
    return key


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION_MODE:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production mode (DATABASE_URL or REDIS_URL set, or DEBUG off with a non-local "
            "ALLOWED_HOSTS) needs the environment variable SECRET_KEY: a long random value, the same in every "
            "process, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = embedded_secret_key(SPARKROOM_DATA_DIR / "secret_key")

# HTTPS (all off by default: turn them on once the site is served over TLS; README, "Production configuration").
# SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https" when a proxy that sets (and strips) that header
# terminates TLS; it also decides the https/wss origin the WebSocket origin check expects.
SECURE_PROXY_SSL_HEADER = tuple(env_list("SECURE_PROXY_SSL_HEADER")) or None
if SECURE_PROXY_SSL_HEADER is not None and len(SECURE_PROXY_SSL_HEADER) != 2:
    raise ImproperlyConfigured('SECURE_PROXY_SSL_HEADER must be "HEADER,value", e.g. "HTTP_X_FORWARDED_PROTO,https"')
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 10)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttle (workspace/accounts/throttle.py): after LOGIN_FAILURE_LIMIT failed password checks for one
# account, or LOGIN_ADDRESS_FAILURE_LIMIT from one address, each within LOGIN_COOLOFF_SECONDS of the last, checks for
# it are refused for LOGIN_COOLOFF_SECONDS. Counted in the cache: Redis (shared by every process) when
# REDIS_URL is set, else the process' memory (the embedded mode is one process).
AUTHENTICATION_BACKENDS = ["workspace.accounts.throttle.ThrottledModelBackend"]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20)
LOGIN_COOLOFF_SECONDS = env_int("LOGIN_COOLOFF_SECONDS", 900)
# Content-Security-Policy of every HTML page (workspace/csp.py). CONTENT_SECURITY_POLICY replaces the
# directives it names, e.g. "img-src 'self' data: https://avatars.example.com; connect-src 'self' https://x".
CONTENT_SECURITY_POLICY = os.environ.get("CONTENT_SECURITY_POLICY", "")
# --- end Security ---

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # /api/docs from ninja's own static files (no CDN script, no inline script: CSP allows it)
    "workspace.accounts",
    "workspace.projects",
    "workspace.collab",
    "workspace.realtime",
]
# Feature apps are appended here so each stays self-contained.
INSTALLED_APPS += [
    app
    for app in (
        "workspace.spark",
        "workspace.jobs",
        "workspace.history",
        "workspace.teams",
        "workspace.repos",
        "workspace.terminals",
        "workspace.timeline",
    )
    if (BASE_DIR / app.replace(".", "/") / "apps.py").exists()
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "workspace.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "workspace.urls"
ASGI_APPLICATION = "workspace.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
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

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Connections are kept a minute (checked before reuse): opening one per request or per socket's database call
# costs a PostgreSQL backend start each time. Inside pytest they are not kept, so thread-pool threads leave none
# open on the test database when it is dropped (the servers tests start keep the default: tests/support/live.py).
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0 if "PYTEST_VERSION" in os.environ else 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            # WAL with synchronous=NORMAL: a commit survives the process crashing (only an OS crash or power loss
            # can undo the last commits), and each commit no longer waits for an fsync.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Each pytest run (and the Daphne/Celery processes it starts, which inherit the id) gets its own test
# database, channel-layer prefix and Celery queue, so concurrent or leftover runs never see each other.
TEST_RUN_ID = os.environ.get("SPARKROOM_TEST_RUN_ID") or (str(os.getpid()) if "PYTEST_VERSION" in os.environ else "")
if TEST_RUN_ID and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{TEST_RUN_ID}"}

REDIS_URL = os.environ.get("REDIS_URL", "")
# The channel layer carries workspace events (chat, presence, jobs, Spark progress); the documents' traffic
# between processes (Yjs updates, awareness, Spark control) goes over the bus (workspace/bus.py): Redis pub/sub
# in production, in memory when embedded.
CHANNEL_PREFIX = os.environ.get("CHANNEL_PREFIX", f"sparkroom{TEST_RUN_ID}")
BUS_PREFIX = f"{CHANNEL_PREFIX}.bus"
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # A socket timeout above the layer's 5 s blocking read, or idle reads fail with a timeout.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": env_int("CHANNEL_CAPACITY", 5000),
                "expiry": 60,
                "group_expiry": env_int("CHANNEL_GROUP_EXPIRY", 86400),
                "prefix": CHANNEL_PREFIX,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}}
# The cache holds the login throttle's counters: in Redis they are shared by every process.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"sparkroom{TEST_RUN_ID}.cache",
        }
    }

# Celery: Redis broker in production, in-memory broker + in-process worker thread otherwise.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://")
# memory://: kombu's in-memory transport with an event-driven wake-up instead of its 1 s poll (tasks/embedded.py).
CELERY_BROKER_TRANSPORT = "tasks.embedded:Transport" if CELERY_BROKER_URL.startswith("memory://") else None
CELERY_RESULT_BACKEND = None
# pytest sets PYTEST_VERSION: tests start real worker processes of their own instead.
CELERY_EMBEDDED_WORKER = env_bool(
    "CELERY_EMBEDDED_WORKER", CELERY_BROKER_URL.startswith("memory://") and "PYTEST_VERSION" not in os.environ
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_DEFAULT_QUEUE = f"celery{TEST_RUN_ID}" if TEST_RUN_ID else "celery"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Collaborative editing limits and tuning.
COLLAB_MAX_FRAME_BYTES = env_int("COLLAB_MAX_FRAME_BYTES", 2 * 1024 * 1024)
COLLAB_MAX_DOC_BYTES = env_int("COLLAB_MAX_DOC_BYTES", 16 * 1024 * 1024)
# Awareness (cursors, names): ids one connection may introduce, and the largest state (JSON) it may set.
COLLAB_MAX_AWARENESS_IDS = env_int("COLLAB_MAX_AWARENESS_IDS", 4)
COLLAB_MAX_AWARENESS_BYTES = env_int("COLLAB_MAX_AWARENESS_BYTES", 16 * 1024)
# What may wait for one document connection that does not read; past it the client is closed (4501) and resyncs.
COLLAB_CLIENT_QUEUE_BYTES = env_int("COLLAB_CLIENT_QUEUE_BYTES", 8 * 1024 * 1024)
# Daphne's WebSocket shortcuts (workspace/edge/): on after their start-up self-check passes; 0 keeps them off.
WS_EDGE_SHORTCUTS = env_bool("WS_EDGE_SHORTCUTS", True)
# Nagle's algorithm off on Daphne's WebSocket connections (edge.daphne_send.send_without_delay); 0 leaves it on.
WS_TCP_NODELAY = env_bool("WS_TCP_NODELAY", True)
COLLAB_COMPACT_EVERY = env_int("COLLAB_COMPACT_EVERY", 500)
# File history (collab/versions.py): a pause longer than this ends an editing session (one version per session);
# every version is kept for HISTORY_KEEP_ALL_DAYS, then one per hour up to HISTORY_KEEP_HOURLY_DAYS, then one a day.
HISTORY_SESSION_GAP_SECONDS = env_float("HISTORY_SESSION_GAP_SECONDS", 300.0)
HISTORY_KEEP_ALL_DAYS = env_float("HISTORY_KEEP_ALL_DAYS", 7.0)
HISTORY_KEEP_HOURLY_DAYS = env_float("HISTORY_KEEP_HOURLY_DAYS", 30.0)
# How long a room stays loaded after its last local client left (reopening a large file then costs no reload).
COLLAB_ROOM_LINGER_SECONDS = env_float("COLLAB_ROOM_LINGER_SECONDS", 30.0)
COLLAB_TOKEN_MAX_AGE = env_int("COLLAB_TOKEN_MAX_AGE", 300)
# Days automatic checkpoints and deleted files are kept (collab.checkpoints); manual checkpoints stay until deleted.
CHECKPOINT_KEEP_DAYS = env_int("CHECKPOINT_KEEP_DAYS", 30)
# How often every worker applies those retention rules to files and workspaces nobody touched (collab.retention).
RETENTION_INTERVAL_SECONDS = env_float("RETENTION_INTERVAL_SECONDS", 3600.0)
COLLAB_ACCESS_RECHECK_SECONDS = env_float("COLLAB_ACCESS_RECHECK_SECONDS", 10.0)
# PostgreSQL commit mode of the update log's writer (see workspace/collab/writer.py): "off" answers once the
# update is committed in the server, without waiting for the WAL flush to disk; "on" waits for the flush.
COLLAB_PG_SYNCHRONOUS_COMMIT = os.environ.get("COLLAB_PG_SYNCHRONOUS_COMMIT", "off")
if COLLAB_PG_SYNCHRONOUS_COMMIT not in ("off", "local", "on", "remote_write", "remote_apply"):
    raise ImproperlyConfigured(f"COLLAB_PG_SYNCHRONOUS_COMMIT={COLLAB_PG_SYNCHRONOUS_COMMIT!r}: not a PostgreSQL mode")
REALTIME_MAX_JSON_BYTES = env_int("REALTIME_MAX_JSON_BYTES", 64 * 1024)
# Deepest nesting of arrays/objects accepted in a workspace-channel message (checked before parsing, without recursion).
REALTIME_MAX_JSON_DEPTH = env_int("REALTIME_MAX_JSON_DEPTH", 32)
PRESENCE_STALE_SECONDS = env_int("PRESENCE_STALE_SECONDS", 90)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}

# --- Spark mode (fast model, real time). OpenAI-compatible chat-completions endpoint. ---
SPARK_BASE_URL = os.environ.get("SPARK_BASE_URL", "")
SPARK_API_KEY = os.environ.get("SPARK_API_KEY", "")
SPARK_MODEL = os.environ.get("SPARK_MODEL", "")
SPARK_TIMEOUT = env_float("SPARK_TIMEOUT", 30.0)
SPARK_MAX_RETRIES = env_int("SPARK_MAX_RETRIES", 2)
# A streamed piece goes into the document at once unless the last update is more recent than this; pieces arriving
# faster are coalesced (at most 1000 / this updates per second per stream, whatever the model's speed).
SPARK_FLUSH_INTERVAL_MS = env_float("SPARK_FLUSH_INTERVAL_MS", 2.0)
SPARK_PROGRESS_INTERVAL_MS = env_float("SPARK_PROGRESS_INTERVAL_MS", 100.0)
# Unsettled AI edits are accepted automatically after this many seconds.
SPARK_PENDING_TTL = env_int("SPARK_PENDING_TTL", 3600)
SPARK_MAX_INSTRUCTION_CHARS = env_int("SPARK_MAX_INSTRUCTION_CHARS", 4000)
SPARK_RUFF_BINARY = os.environ.get("SPARK_RUFF_BINARY", "")  # default: the ruff next to the Python in use
SPARK_RUFF_TIMEOUT = env_float("SPARK_RUFF_TIMEOUT", 20.0)
# Tried when SPARK_*/DEEP_* are unset: a local Ollama server.
OLLAMA_FALLBACK_URL = os.environ.get("OLLAMA_FALLBACK_URL", "http://127.0.0.1:11434/v1")
# Fill-in-the-middle (/v1/completions with `suffix`) for completions as you type: auto (probed once per provider),
# on, off (a chat prompt with prefix and suffix instead).
SPARK_FIM = os.environ.get("SPARK_FIM", "auto")
# chat (chat-completions stream) or responses-ws (the responses API over one persistent WebSocket; falls back to chat
# where the provider has none).
SPARK_TRANSPORT = os.environ.get("SPARK_TRANSPORT", "chat")
DEEP_TRANSPORT = os.environ.get("DEEP_TRANSPORT", "chat")
# Idle keep-alive connections to a model server are kept this long (one pooled client per provider).
LLM_KEEPALIVE_SECONDS = env_float("LLM_KEEPALIVE_SECONDS", 300.0)
# Completions as you type (ghost text): the model (default SPARK_MODEL), the longest suggestion, how long typing must
# pause before a request (the first keystroke after a pause asks at once), and the size of the prefix cache.
SPARK_COMPLETION_MODEL = os.environ.get("SPARK_COMPLETION_MODEL", "")
SPARK_COMPLETION_MAX_TOKENS = env_int("SPARK_COMPLETION_MAX_TOKENS", 96)
SPARK_COMPLETION_DEBOUNCE_MS = env_int("SPARK_COMPLETION_DEBOUNCE_MS", 120)
SPARK_COMPLETION_CACHE_SIZE = env_int("SPARK_COMPLETION_CACHE_SIZE", 256)
# --- end Spark ---

# --- Deep mode (slow model, long jobs on Celery). ---
DEEP_BASE_URL = os.environ.get("DEEP_BASE_URL", "")
DEEP_API_KEY = os.environ.get("DEEP_API_KEY", "")
DEEP_MODEL = os.environ.get("DEEP_MODEL", "")
DEEP_TIMEOUT = env_float("DEEP_TIMEOUT", 120.0)
DEEP_MAX_STEPS = env_int("DEEP_MAX_STEPS", 20)
JOB_SOFT_TIME_LIMIT = env_int("JOB_SOFT_TIME_LIMIT", 600)
JOB_HARD_TIME_LIMIT = env_int("JOB_HARD_TIME_LIMIT", 660)
SANDBOX_TIME_LIMIT = env_float("SANDBOX_TIME_LIMIT", 60.0)
# A project's setup phase (sparkroom.toml [setup] command, e.g. a dependency install) may take longer.
JOB_SETUP_TIME_LIMIT = env_float("JOB_SETUP_TIME_LIMIT", 600.0)
SANDBOX_OUTPUT_LIMIT = env_int("SANDBOX_OUTPUT_LIMIT", 64 * 1024)
SANDBOX_MEMORY_LIMIT = env_int("SANDBOX_MEMORY_LIMIT", 1024 * 1024 * 1024)
SANDBOX_ROOT = Path(os.environ.get("SANDBOX_ROOT", BASE_DIR / ".sandbox"))
DEEP_MAX_RETRIES = env_int("DEEP_MAX_RETRIES", 2)
# USD per million tokens, for the cost figure of each job (0 = unknown / free).
DEEP_PRICE_IN_PER_MTOK = env_float("DEEP_PRICE_IN_PER_MTOK", 0.0)
DEEP_PRICE_OUT_PER_MTOK = env_float("DEEP_PRICE_OUT_PER_MTOK", 0.0)
# A running job writes a heartbeat; one older than JOB_STALE_SECONDS means its worker died.
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 5.0)
JOB_STALE_SECONDS = env_float("JOB_STALE_SECONDS", 60.0)
JOB_REAP_INTERVAL = env_float("JOB_REAP_INTERVAL", 30.0)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 2)
# Jobs of one workspace running at once; the others wait, queued, in order.
JOB_WORKSPACE_CONCURRENCY = env_int("JOB_WORKSPACE_CONCURRENCY", 2)
JOB_MAX_FILE_BYTES = env_int("JOB_MAX_FILE_BYTES", 512 * 1024)
JOB_TESTS_COMMAND = os.environ.get("JOB_TESTS_COMMAND", "python -m pytest -q -p no:cacheprovider")
JOB_LINT_COMMAND = os.environ.get("JOB_LINT_COMMAND", "ruff check --no-cache .")
# Commands run only under bubblewrap ("bwrap"; "auto" is the same and never falls back): without a working one a
# job fails and says how to enable it. "rlimit" runs them as plain subprocesses with rlimits: UNSAFE (the host's
# files are readable, no process or disk bound as root), only ever an explicit operator choice.
SANDBOX_BACKEND = os.environ.get("SANDBOX_BACKEND", "bwrap")
# Per command: processes + threads, and the size of its tmpfs holding /workspace and /tmp (memory, not disk).
SANDBOX_PROCESS_LIMIT = env_int("SANDBOX_PROCESS_LIMIT", 256)
SANDBOX_DISK_LIMIT = env_int("SANDBOX_DISK_LIMIT", 256 * 1024 * 1024)
# When the worker runs as root, commands run as this unprivileged uid/gid (root is exempt from process limits).
SANDBOX_UID = env_int("SANDBOX_UID", 65534)
SANDBOX_GID = env_int("SANDBOX_GID", 65534)
# --- end Deep ---

# --- Shared terminals (workspace/terminals): an interactive bash per terminal in the jobs' sandbox. ---
# A terminal with no input and no output for this long ends (its sandbox is killed).
TERMINAL_IDLE_SECONDS = env_float("TERMINAL_IDLE_SECONDS", 1800.0)
# Output kept per terminal and replayed to a client that (re)attaches.
TERMINAL_SCROLLBACK_BYTES = env_int("TERMINAL_SCROLLBACK_BYTES", 256 * 1024)
# Bytes waiting for one slow client; past half of it the shell's output is paused, past all of it (or stalled for
# TERMINAL_STALL_SECONDS) that client is closed (4501) and replays the scrollback when it reconnects.
TERMINAL_CLIENT_QUEUE_BYTES = env_int("TERMINAL_CLIENT_QUEUE_BYTES", 1024 * 1024)
TERMINAL_STALL_SECONDS = env_float("TERMINAL_STALL_SECONDS", 5.0)
TERMINAL_MAX_PER_WORKSPACE = env_int("TERMINAL_MAX_PER_WORKSPACE", 8)
# Files written in a terminal are looked for after each command (bash's prompt) and at least this often.
TERMINAL_SYNC_SECONDS = env_float("TERMINAL_SYNC_SECONDS", 2.0)
# CPU seconds each process of a terminal may use (RLIMIT_CPU).
TERMINAL_CPU_SECONDS = env_int("TERMINAL_CPU_SECONDS", 3600)

# --- Repositories: import (archives, folders, git clones), stored files (blobs), export (workspace/repos). ---
# Bare repositories, their known_hosts files and uploads waiting for their import job live here: every web
# process and worker must see the same directory (one machine, or a shared volume).
REPOS_DATA_DIR = Path(os.environ.get("REPOS_DATA_DIR", SPARKROOM_DATA_DIR / "repos"))
# Directories local paths / file:// URLs may be cloned from (comma-separated); none by default: no local clones.
REPOS_LOCAL_ROOTS = [Path(root) for root in env_list("REPOS_LOCAL_ROOTS")]
# Hosts (comma-separated names or addresses, exact) whose repositories may be reached over plain http, e.g. a git
# server on the same machine or private network; none by default: http refused, use https or ssh.
REPOS_HTTP_HOSTS = [host.lower() for host in env_list("REPOS_HTTP_HOSTS")]
# Limits of one import: uploaded archive (or cloned pack) size, entries listed, bytes unpacked, one file's bytes
# (a larger file is skipped), and the compression ratio past which an archive counts as a zip bomb.
REPOS_MAX_ARCHIVE_BYTES = env_int("REPOS_MAX_ARCHIVE_BYTES", 256 * 1024 * 1024)
REPOS_MAX_FILES = env_int("REPOS_MAX_FILES", 20000)
REPOS_MAX_TOTAL_BYTES = env_int("REPOS_MAX_TOTAL_BYTES", 1024 * 1024 * 1024)
REPOS_MAX_FILE_BYTES = env_int("REPOS_MAX_FILE_BYTES", 32 * 1024 * 1024)
REPOS_MAX_COMPRESSION_RATIO = env_float("REPOS_MAX_COMPRESSION_RATIO", 100.0)
# Wall-clock seconds one git command (a clone) may take.
REPOS_GIT_TIMEOUT = env_float("REPOS_GIT_TIMEOUT", 600.0)
# A running import whose worker wrote nothing for this long is taken as dead: retried once, then failed.
REPOS_IMPORT_STALE_SECONDS = env_float("REPOS_IMPORT_STALE_SECONDS", 60.0)
# A push or pull queued or running for longer than this is taken as dead (its worker stopped): marked failed, so
# a new one can start; git's lock files it left in the repository, older than this, are removed.
GIT_OPERATION_TIMEOUT_SECONDS = env_float("GIT_OPERATION_TIMEOUT_SECONDS", 1800.0)
# --- end Repositories ---

# --- History and teams. ---
INVITE_DEFAULT_DAYS = env_int("INVITE_DEFAULT_DAYS", 7)
HISTORY_PAGE_SIZE = env_int("HISTORY_PAGE_SIZE", 50)
HISTORY_MAX_PAGE_SIZE = env_int("HISTORY_MAX_PAGE_SIZE", 200)
# Charts and exports read at most this many of the newest matching records.
HISTORY_STATS_LIMIT = env_int("HISTORY_STATS_LIMIT", 20000)
HISTORY_EXPORT_LIMIT = env_int("HISTORY_EXPORT_LIMIT", 50000)
# --- end History ---
