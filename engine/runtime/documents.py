"""The document base: files kept per partnership, addressed by their SHA-256, and every PDF
of the application.

PDFs render through one URL fetcher that serves the package's own files (the document
templates and the stylesheets handed to it) and `data:` URLs, and refuses everything else:
no network, no other file, no redirect. A refusal is logged; the document renders without
the resource."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from sqlalchemy import select

from partnerflow.engine import audit
from partnerflow.engine.errors import InvalidInput, NotFound
from partnerflow.engine.store.models import Document

# --- The document base: files kept per partnership, addressed by their SHA-256.

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


# --- Every PDF of the application, through one URL fetcher.

LOGGER = logging.getLogger("partnerflow.pdf")
# the types a document may reference; anything else is refused even inside the package
TYPES = {".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
         ".jpeg": "image/jpeg", ".gif": "image/gif", ".woff": "font/woff", ".woff2": "font/woff2",
         ".ttf": "font/ttf", ".otf": "font/otf"}


class FetchRefused(ValueError):
    """A document referenced something outside what the renderer may read."""


def _fetcher_class():
    from weasyprint.urls import URLFetcher, URLFetcherResponse  # imported late: it loads Pango

    class PackageFetcher(URLFetcher):
        """Serves files under `roots` (resolved, symbolic links followed) and `data:` URLs."""

        def __init__(self, roots: Iterable[Path], files: Iterable[Path] = ()):
            super().__init__(allowed_protocols=("data",), allow_redirects=False,
                             fail_on_errors=False)
            self.roots = tuple(Path(r).resolve() for r in roots)
            self.files = frozenset(Path(f).resolve() for f in files)

        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower() if ":" in url else ""
            if scheme == "data":
                return super().fetch(url, headers)
            path = self._package_file(url) if scheme == "file" else None
            if path is None:
                shown = url if len(url) <= 200 else url[:200] + "…"
                LOGGER.warning("PDF rendering refused to fetch %s: only the package's own "
                               "files and data: URLs are served", shown)
                raise FetchRefused(f"refused: {shown}")
            return URLFetcherResponse(url, path.read_bytes(),
                                      headers={"Content-Type": TYPES[path.suffix.lower()]})

        def _package_file(self, url: str) -> Path | None:
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                return None
            path = Path(url2pathname(parts.path)).resolve()
            allowed = path in self.files or any(path.is_relative_to(r) for r in self.roots)
            if not allowed or path.suffix.lower() not in TYPES or not path.is_file():
                return None
            return path

    return PackageFetcher


def fetcher(root: Path | None = None, stylesheets: Sequence[Path] = ()):
    """The URL fetcher of every PDF: the document's own package folder, plus the given
    stylesheets."""
    return _fetcher_class()([root] if root is not None else [], files=stylesheets)


def render_pdf(html: str, *, root: Path | None = None, stylesheets: Sequence[Path] = ()) -> bytes:
    """A PDF from a standalone HTML document. `root` is the package folder its relative
    references resolve in (a plugin's templates folder), the one folder served; `stylesheets`
    are package files applied on top, read through the same fetcher (never from a URL built
    from a request)."""
    from weasyprint import CSS, HTML

    url_fetcher = fetcher(root, stylesheets)
    sheets = [CSS(url=Path(s).resolve().as_uri(), url_fetcher=url_fetcher) for s in stylesheets]
    base_url = str(root) + "/" if root is not None else None
    return HTML(string=html, base_url=base_url, url_fetcher=url_fetcher,
                ).write_pdf(stylesheets=sheets)
