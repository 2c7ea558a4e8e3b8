"""Sending a provider's feedback report by e-mail, when an SMTP server is configured.

The server comes from ``PSIRF_SMTP_URL`` (``smtp://user:password@host:port``; ``smtps://`` for implicit TLS,
``?starttls=true`` to upgrade a plain connection) or, failing that, the Airflow connection ``psirf_smtp`` (host,
port, login, password; extra ``{"starttls": true, "ssl": false, "from": "..."}``). Never from code. Recipients per
provider come from ``config/feedback_recipients.toml`` (or ``PSIRF_FEEDBACK_RECIPIENTS``), so the provider
registry holds no personal contact details.
"""

from __future__ import annotations

import json
import mimetypes
import os
import smtplib
import ssl
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from psirf.errors import ConfigError
from psirf.settings import CONFIG_DIR

ENV_URL = "PSIRF_SMTP_URL"
AIRFLOW_CONN_ID = "psirf_smtp"
DEFAULT_FROM = "psirf-data-quality@localhost"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_ssl: bool = False
    starttls: bool = False
    sender: str = DEFAULT_FROM
    timeout: float = 30.0

    def __repr__(self) -> str:  # never print the password
        return f"SmtpSettings(host={self.host!r}, port={self.port}, username={self.username!r}, ssl={self.use_ssl})"


def parse_smtp_url(url: str) -> SmtpSettings:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(f"{ENV_URL} must look like smtp://user:password@host:port (got scheme {parts.scheme!r})")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    use_ssl = parts.scheme == "smtps"
    return SmtpSettings(host=parts.hostname, port=parts.port or (465 if use_ssl else 25),
                        username=unquote(parts.username) if parts.username else None,
                        password=unquote(parts.password) if parts.password else None, use_ssl=use_ssl,
                        starttls=query.get("starttls") in ("1", "true", "yes"),
                        sender=unquote(query.get("from", "")) or os.environ.get("PSIRF_SMTP_FROM", DEFAULT_FROM))


def smtp_settings() -> SmtpSettings | None:
    """The configured server, or None when e-mail is not configured (reports then go to the outbox only)."""
    url = os.environ.get(ENV_URL)
    if url:
        return parse_smtp_url(url)
    return _from_airflow()


def _from_airflow() -> SmtpSettings | None:
    try:
        from airflow.sdk import Connection
    except ImportError:
        return None
    try:
        conn = Connection.get(AIRFLOW_CONN_ID)
    except Exception:  # no connection defined, or not inside a task: e-mail is not configured
        return None
    extra = json.loads(conn.extra) if isinstance(conn.extra, str) and conn.extra else (conn.extra or {})
    if not conn.host:
        return None
    use_ssl = bool(extra.get("ssl", False))
    return SmtpSettings(host=conn.host, port=int(conn.port or (465 if use_ssl else 25)), username=conn.login or None,
                        password=conn.password or None, use_ssl=use_ssl, starttls=bool(extra.get("starttls", False)),
                        sender=str(extra.get("from") or DEFAULT_FROM))


def recipients_for(provider_ods: str, path: Path | None = None) -> list[str]:
    """Addresses for a provider's report: ``[RAJ] to = ["..."]`` in the recipients file; none when absent."""
    path = path or Path(os.environ.get("PSIRF_FEEDBACK_RECIPIENTS", CONFIG_DIR / "feedback_recipients.toml"))
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    entry = data.get(provider_ods.upper(), {})
    to = entry.get("to", []) if isinstance(entry, dict) else []
    if not isinstance(to, list) or not all(isinstance(a, str) and "@" in a for a in to):
        raise ConfigError(f"{path}: [{provider_ods}] to must be a list of e-mail addresses")
    return list(to)


def send(settings: SmtpSettings, to: Sequence[str], subject: str, body: str, attachments: Sequence[Path] = (),
         html: str | None = None) -> None:
    """Send one message (plain-text body, optional HTML alternative, files attached)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.sender, ", ".join(to), subject
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for path in attachments:
        kind, _ = mimetypes.guess_type(path.name)
        maintype, subtype = (kind or "application/octet-stream").split("/", 1)
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    context = ssl.create_default_context()
    if settings.use_ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                                context=context)
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with client:
        if settings.starttls:
            client.starttls(context=context)
        if settings.username and settings.password:
            client.login(settings.username, settings.password)
        client.send_message(message)
