"""Pages as a person sees them: headless Chromium from Debian's archive (`./dev test` installs it)."""

from __future__ import annotations

import html
import re
import subprocess
import tempfile
from pathlib import Path


def rendered(url: str, screenshot: Path | None = None) -> str:
    """The page's text once its scripts have run (up to 10 s of page time), tags stripped and spaces collapsed;
    and a PNG of it when asked. Only the lab's own addresses are ever opened."""
    with tempfile.TemporaryDirectory() as profile:
        chromium = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                    "--virtual-time-budget=10000", "--window-size=1400,1000"]
        dom = subprocess.run([*chromium, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                             check=True).stdout
        if screenshot:
            subprocess.run([*chromium, f"--screenshot={screenshot}", url], capture_output=True, timeout=120,
                           check=True)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
