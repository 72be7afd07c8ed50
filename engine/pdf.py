"""Every PDF of the application is rendered here, through one URL fetcher that serves the
package's own files (the document templates and the stylesheets handed to it) and `data:`
URLs, and refuses everything else: no network, no other file, no redirect. A refusal is
logged; the document renders without the resource."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

TEMPLATES = Path(__file__).resolve().parent / "templates"
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


def fetcher(stylesheets: Sequence[Path] = ()):
    """The URL fetcher of every PDF: the templates folder, plus the given stylesheets."""
    return _fetcher_class()([TEMPLATES], files=stylesheets)


def render_pdf(html: str, *, stylesheets: Sequence[Path] = ()) -> bytes:
    """A PDF from a standalone HTML document; `stylesheets` are package files applied on top,
    read through the same fetcher (never from a URL built from a request)."""
    from weasyprint import CSS, HTML

    url_fetcher = fetcher(stylesheets)
    sheets = [CSS(url=Path(s).resolve().as_uri(), url_fetcher=url_fetcher) for s in stylesheets]
    return HTML(string=html, base_url=str(TEMPLATES) + "/", url_fetcher=url_fetcher,
                ).write_pdf(stylesheets=sheets)
