"""Headless Chromium (Debian's `chromium` package) as a PDF engine, a screenshot tool and a layout checker.

Only the command line is used (no DevTools protocol client): `--print-to-pdf`, `--screenshot` and `--dump-dom`
after an injected script has measured the page. Every call has a timeout and its own throw-away profile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

CANDIDATES = ("chromium", "chromium-headless-shell", "chromium-browser", "google-chrome")
TIMEOUT_S = 90
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
          "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--force-color-profile=srgb")


@lru_cache(maxsize=1)
def chromium_path() -> str | None:
    env = os.environ.get("EHRGEN_CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("headless Chromium not found (install Debian's `chromium` package)")
    with tempfile.TemporaryDirectory(prefix="ehrgen-chromium-") as profile:
        return subprocess.run([exe, *_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              timeout=timeout, check=False, text=True)


def _with_file(html: str, fn):
    with tempfile.TemporaryDirectory(prefix="ehrgen-page-") as d:
        page = Path(d) / "page.html"
        page.write_text(html, encoding="utf-8")
        return fn(page.as_uri(), Path(d))


def print_pdf(html: str) -> bytes:
    """The page printed to PDF by Chromium (its own CSS @page size and margins; no header/footer)."""
    def go(uri: str, d: Path) -> bytes:
        out = d / "out.pdf"
        res = _run(["--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
                    f"--print-to-pdf={out}", uri])
        if not out.is_file():
            raise RuntimeError(f"chromium --print-to-pdf failed (exit {res.returncode})")
        return out.read_bytes()
    return _with_file(html, go)


def screenshot(html: str, out: Path, width: int, height: int, scale: float = 1.0) -> Path:
    """A PNG of the first `width` x `height` CSS pixels of the page."""
    def go(uri: str, d: Path) -> Path:
        tmp = d / "shot.png"
        res = _run([f"--window-size={width},{height}", f"--force-device-scale-factor={scale}",
                    f"--screenshot={tmp}", uri])
        if not tmp.is_file():
            raise RuntimeError(f"chromium --screenshot failed (exit {res.returncode})")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp), out)
        return out
    return _with_file(html, go)


# Runs in the page after layout: every element whose box sticks out of the root's (or `limit`'s) width, or
# whose content is wider than its own box (overflowing it, or clipped / cut with an ellipsis by it: on a card a
# cut phenotype is a wrong statement), is reported by tag, class and size.
_MEASURE = """
<script>
(function () {
  function run() {
    var limit = document.querySelector(%(selector)s) || document.documentElement;
    var box = limit.getBoundingClientRect(), bad = [];
    var all = limit.querySelectorAll('*');
    for (var i = 0; i < all.length; i++) {
      var el = all[i], r = el.getBoundingClientRect();
      if (el.tagName === 'SCRIPT' || el.closest('.sr') || (r.width === 0 && r.height === 0)) continue;
      var cs = getComputedStyle(el);
      var clipsX = cs.overflowX === 'hidden' || cs.overflowX === 'clip';
      if (r.right > box.right + 0.5 || r.left < box.left - 0.5 ||
          (%(check_bottom)s && r.bottom > box.bottom + 0.5) ||
          (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0 && (clipsX || cs.display !== 'inline'))) {
        bad.push({tag: el.tagName.toLowerCase(), cls: el.className || '', text: (el.textContent || '').trim().slice(0, 40),
                  left: Math.round(r.left), right: Math.round(r.right), bottom: Math.round(r.bottom),
                  scroll: el.scrollWidth, client: el.clientWidth});
      }
    }
    var doc = document.documentElement;
    var out = {limit: {width: Math.round(box.width), height: Math.round(box.height)},
               page: {scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth}, overflow: bad.slice(0, 50)};
    var pre = document.createElement('pre');
    pre.id = 'ehrgen-layout';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  if (document.readyState === 'complete') run(); else window.addEventListener('load', run);
})();
</script>
"""


def layout_check(html: str, width: int, height: int = 1200, selector: str | None = None,
                 check_bottom: bool = False) -> dict:
    """Lay the page out at `width` CSS pixels in Chromium and report elements that overflow it (or the
    element `selector`, e.g. the card). Returns {"limit", "page", "overflow": [...]}."""
    script = _MEASURE % {"selector": json.dumps(selector or "html"),
                         "check_bottom": "true" if check_bottom else "false"}
    probe = html.replace("</body>", script + "</body>", 1) if "</body>" in html else html + script

    def go(uri: str, d: Path) -> dict:
        res = _run([f"--window-size={width},{height}", "--virtual-time-budget=3000", "--dump-dom", uri])
        start = res.stdout.find('<pre id="ehrgen-layout">')
        if start < 0:
            raise RuntimeError(f"chromium --dump-dom gave no layout result (exit {res.returncode})")
        end = res.stdout.index("</pre>", start)
        raw = res.stdout[start + len('<pre id="ehrgen-layout">'):end]
        import html as _html
        return json.loads(_html.unescape(raw))
    return _with_file(probe, go)
