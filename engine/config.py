"""Settings, logs, the session key and the clock: what the engine takes from its environment.

One typed settings object, read from the environment (tests pass their own); structured
logs, one JSON object per line on stderr; the key that signs the web sessions: what makes
one fit to serve, the file `make run` creates on first start and reuses afterwards, and
reading a key file named in production; and the engine's notion of now: real time in
production, a hand you can move in tests."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from partnerflow.engine.errors import PartnerflowError

# --- One typed settings object, read from the environment; tests pass their own.

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _default_bpmn_dir() -> Path:
    import partnerflow.bpmn as bpmn_pkg

    return Path(bpmn_pkg.__file__).resolve().parent


def _default_forms_dir() -> Path:
    import partnerflow.forms as forms_pkg

    return Path(forms_pkg.__file__).resolve().parent


@dataclass(frozen=True)
class Settings:
    """Everything the engine needs to know about its surroundings."""

    database_url: str = "sqlite:///instance/partnerflow.db"
    bpmn_dir: Path = field(default_factory=_default_bpmn_dir)
    forms_dir: Path = field(default_factory=_default_forms_dir)
    # Wall-clock budget for the engine steps that one request runs (scripts, gateways, DMN).
    step_time_limit_s: float = 5.0
    # Sandbox processes kept warm per server process, and the memory each may use.
    sandbox_workers: int = 2
    sandbox_memory_mb: int = 256
    # Inboxes (a reader's page or header count) each server process keeps while unchanged;
    # 0 reads every inbox again at each request.
    inbox_cache_entries: int = 2048
    # SpiffWorkflow's task iterators stop at depth 1000; refuse to go near it.
    max_task_depth: int = 800
    max_upload_bytes: int = 5 * 1024 * 1024
    # Largest JSON of one request's task data (completion, draft, start form), and the most
    # rows a map import reads before refusing the file.
    max_task_data_bytes: int = 1024 * 1024
    import_max_rows: int = 5000
    # the built-in key serves tests and the debugger only: the WSGI entry point and
    # `partnerflow run` refuse it (engine/signing_key.py)
    secret_key: str = field(default="dev-only-change-me", repr=False)
    sql_echo: bool = False
    # E-mail delivery (the worker sends; no SMTP host means notifications stay in the app).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    # The CA certificate(s), PEM, the SMTP server's certificate is checked against after
    # STARTTLS (a private CA); none: the system's trusted CAs.
    smtp_ca_file: Path | None = None
    mail_from: str = "partnerflow@localhost"
    # The public address of the site, for links in e-mails.
    base_url: str = "http://127.0.0.1:5000"
    # Hour (UTC) after which the daily digest of the previous day's notifications goes out.
    digest_hour_utc: int = 6
    # Trust X-Forwarded-* from one reverse proxy in front of the web processes.
    proxy_fix: bool = False
    # Send the session cookie over HTTPS only (set it whenever the site is served by TLS);
    # a request that came over HTTPS gets a Secure cookie either way.
    secure_cookies: bool = False
    # Host names the site answers to (others get 400); empty: any (development only).
    trusted_hosts: tuple[str, ...] = ()
    # Log lines as JSON (production) or as plain text.
    log_json: bool = True
    # The audit log's MAC key, kept outside the database: the key itself (production), or a
    # file holding it; the default file is created (mode 0600) on first use.
    audit_key: str | None = field(default=None, repr=False)
    audit_key_file: Path = Path("instance/audit_key")
    # The Ed25519 key that signs audit seals (`partnerflow audit seal`), created on first use.
    audit_seal_key_file: Path = Path("instance/audit_seal_key")
    # /metrics (Prometheus): a bearer token, and/or the networks allowed without one; with
    # neither the endpoint is off (404)
    metrics_token: str | None = field(default=None, repr=False)
    metrics_networks: tuple[str, ...] = ()
    # /ready also wants a worker that reported within this many seconds (0: not checked)
    worker_stale_s: float = 0.0
    # sign-in attempts and the addresses in the audit log are kept this many days (RGPD)
    sign_in_retention_days: int = 180
    # Single sign-on through an OpenID Connect provider (off without an issuer); see
    # docs/deployment.md. Local passwords may stay allowed beside it, or be turned off.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    oidc_scopes: str = "openid email profile"
    oidc_label: str = "votre fournisseur d'identité"
    oidc_groups_claim: str = "groups"
    # (a value of the groups claim, a Partnerflow group key); empty: accounts are created by an
    # administrator and linked by address
    oidc_group_map: tuple[tuple[str, str], ...] = ()
    oidc_trust_email: bool = False
    local_passwords: bool = True
    # The time zone every page, e-mail and export shows times in (stored times stay UTC).
    timezone: str = "Europe/Paris"
    # Who to write to about the accessibility of the site (the /accessibilite statement).
    accessibility_contact: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Build settings from PARTNERFLOW_* variables, then apply explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict = {}
        if "PARTNERFLOW_DATABASE_URL" in env:
            values["database_url"] = env["PARTNERFLOW_DATABASE_URL"]
        if "PARTNERFLOW_BPMN_DIR" in env:
            values["bpmn_dir"] = Path(env["PARTNERFLOW_BPMN_DIR"])
        if "PARTNERFLOW_FORMS_DIR" in env:
            values["forms_dir"] = Path(env["PARTNERFLOW_FORMS_DIR"])
        if "PARTNERFLOW_STEP_TIME_LIMIT" in env:
            values["step_time_limit_s"] = float(env["PARTNERFLOW_STEP_TIME_LIMIT"])
        if "PARTNERFLOW_SANDBOX_WORKERS" in env:
            values["sandbox_workers"] = int(env["PARTNERFLOW_SANDBOX_WORKERS"])
        if "PARTNERFLOW_SANDBOX_MEMORY_MB" in env:
            values["sandbox_memory_mb"] = int(env["PARTNERFLOW_SANDBOX_MEMORY_MB"])
        if "PARTNERFLOW_MAX_TASK_DEPTH" in env:
            values["max_task_depth"] = int(env["PARTNERFLOW_MAX_TASK_DEPTH"])
        if "PARTNERFLOW_MAX_UPLOAD_BYTES" in env:
            values["max_upload_bytes"] = int(env["PARTNERFLOW_MAX_UPLOAD_BYTES"])
        for variable, name in (("PARTNERFLOW_MAX_TASK_DATA_BYTES", "max_task_data_bytes"),
                               ("PARTNERFLOW_INBOX_CACHE_ENTRIES", "inbox_cache_entries"),
                               ("PARTNERFLOW_IMPORT_MAX_ROWS", "import_max_rows")):
            if variable in env:
                values[name] = int(env[variable])
        values.update(_secret_key(env))
        if env.get("PARTNERFLOW_SQL_ECHO") in ("1", "true", "yes"):
            values["sql_echo"] = True
        values.update(_mail_and_serving(env))
        values.update(_operations(env))
        values.update(_single_sign_on(env))
        values.update(_reader(env))
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)


_TRUE = ("1", "true", "yes", "on")


def _reader(env) -> dict:
    """What the reader is shown: the time zone (an IANA name, checked here so that a typo stops
    the start with its name rather than every page) and the accessibility contact."""
    values: dict = {}
    if env.get("PARTNERFLOW_TIMEZONE"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = env["PARTNERFLOW_TIMEZONE"].strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise PartnerflowError(f"PARTNERFLOW_TIMEZONE: unknown time zone {name!r} "
                                   "(an IANA name such as Europe/Paris or America/Cayenne)") from None
        values["timezone"] = name
    if env.get("PARTNERFLOW_ACCESSIBILITY_CONTACT"):
        values["accessibility_contact"] = env["PARTNERFLOW_ACCESSIBILITY_CONTACT"].strip()
    return values


def _secret_key(env) -> dict:
    """The session signing key: PARTNERFLOW_SECRET_KEY, else the file PARTNERFLOW_SECRET_KEY_FILE."""
    if "PARTNERFLOW_SECRET_KEY" in env:
        return {"secret_key": env["PARTNERFLOW_SECRET_KEY"]}
    if env.get("PARTNERFLOW_SECRET_KEY_FILE"):
        from partnerflow.engine.config import read_key_file

        return {"secret_key": read_key_file(Path(env["PARTNERFLOW_SECRET_KEY_FILE"]))}
    return {}


def _mail_and_serving(env) -> dict:
    """SMTP, links, digest hour, proxy and log settings from PARTNERFLOW_* variables."""
    values: dict = {}
    texts = {"PARTNERFLOW_SMTP_HOST": "smtp_host", "PARTNERFLOW_SMTP_USER": "smtp_user",
             "PARTNERFLOW_SMTP_PASSWORD": "smtp_password", "PARTNERFLOW_MAIL_FROM": "mail_from",
             "PARTNERFLOW_BASE_URL": "base_url"}
    for variable, name in texts.items():
        if env.get(variable):
            values[name] = env[variable]
    if env.get("PARTNERFLOW_TRUSTED_HOSTS"):
        values["trusted_hosts"] = tuple(h.strip() for h in env["PARTNERFLOW_TRUSTED_HOSTS"].split(",")
                                        if h.strip())
    for variable, name in (("PARTNERFLOW_AUDIT_KEY_FILE", "audit_key_file"),
                           ("PARTNERFLOW_AUDIT_SEAL_KEY_FILE", "audit_seal_key_file"),
                           ("PARTNERFLOW_SMTP_CA_FILE", "smtp_ca_file")):
        if env.get(variable):
            values[name] = Path(env[variable])
    if env.get("PARTNERFLOW_AUDIT_KEY"):
        values["audit_key"] = env["PARTNERFLOW_AUDIT_KEY"]
    if env.get("PARTNERFLOW_SMTP_PORT"):
        values["smtp_port"] = int(env["PARTNERFLOW_SMTP_PORT"])
    if env.get("PARTNERFLOW_DIGEST_HOUR_UTC"):
        values["digest_hour_utc"] = int(env["PARTNERFLOW_DIGEST_HOUR_UTC"]) % 24
    for variable, name in (("PARTNERFLOW_SMTP_STARTTLS", "smtp_starttls"),
                           ("PARTNERFLOW_PROXY_FIX", "proxy_fix"), ("PARTNERFLOW_LOG_JSON", "log_json"),
                           ("PARTNERFLOW_SECURE_COOKIES", "secure_cookies")):
        if variable in env:
            values[name] = env[variable].strip().lower() in _TRUE
    return values


def _operations(env) -> dict:
    """Metrics and readiness settings from PARTNERFLOW_* variables."""
    values: dict = {}
    if env.get("PARTNERFLOW_METRICS_TOKEN"):
        values["metrics_token"] = env["PARTNERFLOW_METRICS_TOKEN"]
    if env.get("PARTNERFLOW_METRICS_NETWORKS"):
        values["metrics_networks"] = tuple(
            n.strip() for n in env["PARTNERFLOW_METRICS_NETWORKS"].split(",") if n.strip())
    if env.get("PARTNERFLOW_SIGN_IN_RETENTION_DAYS"):
        values["sign_in_retention_days"] = int(env["PARTNERFLOW_SIGN_IN_RETENTION_DAYS"])
    if env.get("PARTNERFLOW_WORKER_STALE_SECONDS"):
        values["worker_stale_s"] = float(env["PARTNERFLOW_WORKER_STALE_SECONDS"])
    return values


def _single_sign_on(env) -> dict:
    """OpenID Connect settings from PARTNERFLOW_OIDC_* and PARTNERFLOW_LOCAL_PASSWORDS."""
    values: dict = {}
    for variable, name in (("PARTNERFLOW_OIDC_ISSUER", "oidc_issuer"),
                           ("PARTNERFLOW_OIDC_CLIENT_ID", "oidc_client_id"),
                           ("PARTNERFLOW_OIDC_CLIENT_SECRET", "oidc_client_secret"),
                           ("PARTNERFLOW_OIDC_SCOPES", "oidc_scopes"),
                           ("PARTNERFLOW_OIDC_LABEL", "oidc_label"),
                           ("PARTNERFLOW_OIDC_GROUPS_CLAIM", "oidc_groups_claim")):
        if env.get(variable):
            values[name] = env[variable].strip()
    if env.get("PARTNERFLOW_OIDC_CLIENT_SECRET_FILE") and "oidc_client_secret" not in values:
        values["oidc_client_secret"] = read_key_file(Path(env["PARTNERFLOW_OIDC_CLIENT_SECRET_FILE"]))
    if env.get("PARTNERFLOW_OIDC_GROUP_MAP"):
        values["oidc_group_map"] = parse_group_map(env["PARTNERFLOW_OIDC_GROUP_MAP"])
    for variable, name in (("PARTNERFLOW_OIDC_TRUST_EMAIL", "oidc_trust_email"),
                           ("PARTNERFLOW_LOCAL_PASSWORDS", "local_passwords")):
        if variable in env:
            values[name] = env[variable].strip().lower() in _TRUE
    return values


def parse_group_map(text: str) -> tuple[tuple[str, str], ...]:
    """`value=group;value=group` (`;` or a new line between pairs, since a value may hold a
    comma, as an LDAP name does); a pair without `=` is refused, naming it."""
    pairs = []
    for item in re.split(r"[;\n]", text):
        if not item.strip():
            continue
        value, sep, group = item.rpartition("=")
        if not sep or not value.strip() or not group.strip():
            raise ValueError(f"PARTNERFLOW_OIDC_GROUP_MAP: '{item.strip()}' is not value=group")
        pairs.append((value.strip(), group.strip()))
    return tuple(pairs)


# --- Structured logs: one JSON object per line on stderr (time, level, logger, message, ids).

# Attributes a log call may pass with `extra=` that are copied into the JSON line.
CONTEXT_FIELDS = ("instance_id", "partnership_id", "task_id", "notification_id", "username",
                  "fired", "count", "duration_ms", "error")


class JsonFormatter(logging.Formatter):
    """`{"time": ..., "level": ..., "logger": ..., "message": ..., "instance_id": ...}`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(json_lines: bool = True, level: int = logging.INFO) -> None:
    """Send the root logger to stderr, as JSON lines or as plain text; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_partnerflow", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._partnerflow = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)


# --- The key that signs the web sessions.

# The key Settings fall back to: fine for tests and the debugger, never for serving.
DEVELOPMENT_KEY = "dev-only-change-me"
MIN_KEY_BYTES = 32
HOW_TO_SET = ("set PARTNERFLOW_SECRET_KEY or PARTNERFLOW_SECRET_KEY_FILE to at least "
              f"{MIN_KEY_BYTES} random bytes (`partnerflow secret-key FILE` writes one)")


class SigningKeyError(PartnerflowError):
    """A key file that cannot be read or holds no key."""


def problem(key: str | bytes | None) -> str | None:
    """Why this key must not sign sessions of a served site; None when it may."""
    if not key:
        return f"no session signing key is set: {HOW_TO_SET}"
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if raw == DEVELOPMENT_KEY.encode("ascii"):
        return f"the session signing key is the built-in development key: {HOW_TO_SET}"
    if len(raw) < MIN_KEY_BYTES:
        return (f"the session signing key is {len(raw)} bytes long, under the {MIN_KEY_BYTES} "
                f"required: {HOW_TO_SET}")
    return None


def read_key_file(path: Path) -> str:
    """The key held in a file (surrounding white space removed)."""
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SigningKeyError(f"the session key file {path} cannot be read: {reason}") from None
    if not key:
        raise SigningKeyError(f"the session key file {path} is empty")
    return key


def ensure_key_file(path: Path) -> tuple[str, bool]:
    """The key in `path`, created first (random, mode 0600) when the file does not exist;
    returns the key and whether it was created now. Two processes starting together end
    with the same key: the new key is written aside, then linked into place."""
    path = Path(path)
    if path.exists():
        return read_key_file(path), False
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    created = False
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(aside, path)
            created = True
        except FileExistsError:
            pass
    finally:
        aside.unlink(missing_ok=True)
    return read_key_file(path), created


# --- The engine's notion of now: real time in production, a hand you can move in tests.

def utcnow() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    def __call__(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock that only moves when told to (scenario tests, demos of timers)."""

    def __init__(self, start: datetime | None = None):
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """Normalise a datetime read back from the database (SQLite drops the offset)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(
        UTC)
