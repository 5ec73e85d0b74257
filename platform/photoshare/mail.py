"""Outgoing e-mail: SMTP when SMTP_HOST is configured, else the log and an outbox folder.

Without SMTP (a fresh machine, `make run`), each message is logged and written as an
.eml file under `<instance>/outbox/`, so a password-reset link can be followed without a
mail server. smtplib and email.message do the work (the standard library's).
"""

from __future__ import annotations

import logging
import os
import smtplib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

log = logging.getLogger("photoshare.mail")


def outbox_dir(settings) -> Path:
    return Path(settings["INSTANCE_PATH"]) / "outbox"


def send(settings, to: str, subject: str, body: str) -> str:
    """Send one plain-text message; returns where it went ("smtp" or the outbox file)."""
    message = EmailMessage()
    message["From"] = settings["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    # Plain 7-bit text when possible: links stay whole, not folded by quoted-printable,
    # so the outbox file can be read (and its link copied) as it is.
    message.set_content(body, cte="7bit" if body.isascii() else "8bit")
    if settings.get("SMTP_HOST"):
        with smtplib.SMTP(settings["SMTP_HOST"], settings["SMTP_PORT"], timeout=10) as smtp:
            if settings.get("SMTP_STARTTLS"):
                smtp.starttls()
            if settings.get("SMTP_USER"):
                smtp.login(settings["SMTP_USER"], settings.get("SMTP_PASSWORD") or "")
            smtp.send_message(message)
        log.info("mail to %s sent by SMTP: %s", to, subject)
        return "smtp"
    folder = outbox_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
    # 0600: the message carries a secret link.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(bytes(message))
    log.warning("no SMTP_HOST: mail to %s written to %s\n%s\n%s", to, path, subject, body)
    return str(path)
