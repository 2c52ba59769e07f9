"""HTML -> PDF with whichever engine this machine has: WeasyPrint (PyPI; needs the system's Pango libraries)
or headless Chromium (Debian's `chromium`, preferred by `auto` when installed: faster). With neither, `html_to_pdf` returns None and `engine_status` says
why once, so the pipeline carries on with HTML only."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

log = logging.getLogger(__name__)
ENGINES = ("weasyprint", "chromium")
_lock = threading.Lock()  # WeasyPrint's font machinery is not documented as thread-safe
_warned: set[str] = set()


@lru_cache(maxsize=4)
def _weasyprint_ok() -> str:
    """'' when WeasyPrint imports and can lay out a page; otherwise the reason it cannot."""
    try:
        import weasyprint  # noqa: F401
    except ImportError:
        return "WeasyPrint is not installed (pip install weasyprint)"
    except OSError as exc:  # the Python package is there but Pango/GObject libraries are not
        return f"WeasyPrint cannot load its system libraries (install Pango: apt-get install libpango-1.0-0 " \
               f"libpangoft2-1.0-0): {str(exc).splitlines()[0][:120]}"
    return ""


def pick_engine(preference: str = "auto") -> tuple[str | None, str]:
    """(engine or None, why not when None) for the configured preference."""
    from ehrgen.report.browser import chromium_path

    if preference == "none":
        return None, "PDF output is turned off (report.pdf_engine = none)"
    why = []
    # auto: Chromium first when installed (about 3x faster on long tables), else WeasyPrint
    order = {"auto": ("chromium", "weasyprint"), "chromium": ("chromium",), "weasyprint": ("weasyprint",)}
    for engine in order.get(preference, ()):
        if engine == "chromium":
            if chromium_path():
                return "chromium", ""
            why.append("headless Chromium not found (apt-get install chromium)")
        else:
            reason = _weasyprint_ok()
            if not reason:
                return "weasyprint", ""
            why.append(reason)
    return None, "; ".join(why)


def engine_status(preference: str = "auto") -> str:
    engine, why = pick_engine(preference)
    return f"PDF engine: {engine}" if engine else f"no PDF engine: {why}"


@lru_cache(maxsize=1)
def configured_report():
    """The `report` settings section (ehrgen.toml / EHRGEN_REPORT__*), read once per process."""
    from ehrgen.settings import ReportSettings, load_settings

    try:
        return load_settings().report
    except Exception:  # a broken config file is reported by the commands that use it; defaults here
        return ReportSettings()


def configured_engine() -> str:
    return configured_report().pdf_engine


def html_to_pdf(html: str, preference: str | None = None) -> bytes | None:
    """The document as PDF bytes, or None (with one warning per process) when no engine is available."""
    engine, why = pick_engine(preference or configured_engine())
    if engine is None:
        if why not in _warned:
            _warned.add(why)
            log.warning("PDF reports are not written: %s", why)
        return None
    if engine == "weasyprint":
        from weasyprint import HTML

        with _lock:
            return HTML(string=html, base_url=None).write_pdf()
    from ehrgen.report.browser import print_pdf

    return print_pdf(html)


def pdf_page_count(pdf: bytes) -> int:
    """Pages in a PDF (pypdf when installed, else a count of /Type /Page objects)."""
    try:
        import io

        from pypdf import PdfReader

        return len(PdfReader(io.BytesIO(pdf)).pages)
    except ImportError:
        import re

        return len(re.findall(rb"/Type\s*/Page[^s]", pdf))
