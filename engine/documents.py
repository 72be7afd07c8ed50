"""The document base: files kept per partnership, addressed by their SHA-256."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from . import audit
from .errors import InvalidInput, NotFound
from .models import Document

# extension -> (content type, magic bytes a real file of that kind starts with)
ALLOWED = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "odt": ("application/vnd.oasis.opendocument.text", (b"PK\x03\x04",)),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", (b"PK\x03\x04",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             (b"PK\x03\x04",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)),
    "txt": ("text/plain", ()),
}
SAFE_NAME = re.compile(r"[^A-Za-z0-9À-ÿ._ -]+")


def check_file(filename: str, content: bytes, max_bytes: int) -> tuple[str, str]:
    """A clean file name and its content type, or InvalidInput saying what is wrong."""
    clean = SAFE_NAME.sub("_", (filename or "").replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    if not clean:
        raise InvalidInput("the file has no name", {"file": ["Le fichier n'a pas de nom."]})
    ext = clean.rsplit(".", 1)[-1].lower() if "." in clean else ""
    if ext not in ALLOWED:
        raise InvalidInput(f"files of type .{ext} are not accepted",
                           {"file": [f"Type de fichier refusé (.{ext}). Acceptés : "
                                     + ", ".join(sorted(ALLOWED))]})
    if len(content) > max_bytes:
        raise InvalidInput("the file is too large",
                           {"file": [f"Fichier trop volumineux (maximum {max_bytes // 1024 // 1024} Mo)."]})
    if not content:
        raise InvalidInput("the file is empty", {"file": ["Le fichier est vide."]})
    content_type, magics = ALLOWED[ext]
    if magics and not any(content.startswith(m) for m in magics):
        raise InvalidInput(f"the file's content is not a .{ext} file",
                           {"file": [f"Le contenu ne correspond pas à un fichier .{ext}."]})
    if ext == "txt":
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("a text file must be UTF-8",
                               {"file": ["Un fichier texte doit être en UTF-8."]}) from None
    return clean[:255], content_type


def store(uow, *, partnership_id: int, filename: str, content: bytes, actor: str,
          max_bytes: int) -> str:
    """Store a file (once per content and partnership) and return its SHA-256."""
    clean, content_type = check_file(filename, content, max_bytes)
    digest = hashlib.sha256(content).hexdigest()
    session = uow.session
    existing = session.scalar(select(Document).where(Document.partnership_id == partnership_id,
                                                     Document.sha256 == digest))
    if existing is None:
        session.add(Document(partnership_id=partnership_id, sha256=digest, filename=clean,
                             content_type=content_type, size=len(content), content=content,
                             uploaded_by=actor, created_at=uow.clock()))
        audit.append(session, type="document_added", actor=actor, at=uow.clock(),
                     partnership_id=partnership_id,
                     payload={"filename": clean, "sha256": digest, "size": len(content)})
    return digest


def fetch(session, *, partnership_id: int, sha256: str) -> Document:
    doc = session.scalar(select(Document).where(Document.partnership_id == partnership_id,
                                                Document.sha256 == sha256))
    if doc is None:
        raise NotFound("no such document in this partnership")
    return doc
