"""One typed settings object, read from the environment; tests pass their own."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

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
                               ("PARTNERFLOW_IMPORT_MAX_ROWS", "import_max_rows")):
            if variable in env:
                values[name] = int(env[variable])
        values.update(_secret_key(env))
        if env.get("PARTNERFLOW_SQL_ECHO") in ("1", "true", "yes"):
            values["sql_echo"] = True
        values.update(_mail_and_serving(env))
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)


_TRUE = ("1", "true", "yes", "on")


def _secret_key(env) -> dict:
    """The session signing key: PARTNERFLOW_SECRET_KEY, else the file PARTNERFLOW_SECRET_KEY_FILE."""
    if "PARTNERFLOW_SECRET_KEY" in env:
        return {"secret_key": env["PARTNERFLOW_SECRET_KEY"]}
    if env.get("PARTNERFLOW_SECRET_KEY_FILE"):
        from .signing_key import read_key_file

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
                           ("PARTNERFLOW_AUDIT_SEAL_KEY_FILE", "audit_seal_key_file")):
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
