"""The client's guide in a real browser: Debian's headless Chromium.

On a 360 px wide phone screen the guide must not scroll sideways, and printed
on A4 it must give pages that pdftoppm turns into images. The guide itself
carries no script, so the width is measured from outside: a test page holds
the guide in a 360 px frame and reads the frame's scroll width. Skipped where
no browser (or no pdftoppm) is installed; `.ci/run` installs both on Debian.
"""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from kapplan import api

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOPPM = shutil.which("pdftoppm")
DATA = Path(__file__).parent / "data"
pytestmark = pytest.mark.skipif(CHROMIUM is None or PDFTOPPM is None,
                                reason="headless Chromium and pdftoppm are not installed")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    command = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A long real guide: a bundled protocol, a clinic with a very long word in its address."""
    client = api.client_from(DATA / "client_los_angeles_named_with_therapist_and_video_link.yaml")
    plan = api.make_plan("journey-sl-kap", client, DATA / "clinic_los_angeles_contact_long_address.yaml",
                         now=datetime.fromisoformat("2026-12-01T12:00:00+00:00"))
    path = tmp_path_factory.mktemp("browser") / "guide.html"
    path.write_text(api.handout(plan, privacy="standard"), encoding="utf-8")
    return path


def test_phone_width_has_no_sideways_scroll_and_a4_print_gives_pages(guide, tmp_path):
    # 1. A 360 px screenshot of the guide as a phone shows it.
    shot = tmp_path / "phone.png"
    chromium(tmp_path, "--window-size=360,1600", f"--screenshot={shot}", guide.as_uri())
    assert png_size(shot) == (360, 1600)

    # 2. The width the guide needs in a 360 px viewport, read by a test page around it.
    probe = tmp_path / "probe.html"
    probe.write_text(
        "<!DOCTYPE html><html><body style='margin:0'>"
        f"<iframe id=g width=360 height=800 style='border:0' srcdoc=\"{html.escape(guide.read_text('utf-8'))}\">"
        "</iframe><script>document.getElementById('g').onload = function () {"
        " var d = this.contentDocument.documentElement;"
        " document.body.setAttribute('data-width', d.scrollWidth + ' ' + d.clientWidth); };</script>"
        "</body></html>",
        encoding="utf-8",
    )
    dom = chromium(tmp_path, "--window-size=400,900", "--virtual-time-budget=3000", "--dump-dom",
                   probe.as_uri()).stdout
    found = re.search(r'data-width="(\d+) (\d+)"', dom)
    assert found, dom[-500:]
    scroll_width, client_width = map(int, found.groups())
    assert client_width == 360
    assert scroll_width <= client_width

    # 3. Printed on A4 (the paper size a clinic's printer dialog would choose).
    a4 = tmp_path / "a4.html"
    a4.write_text(guide.read_text("utf-8").replace("</style>", "@page { size: A4; }\n</style>", 1), "utf-8")
    pdf = tmp_path / "guide.pdf"
    chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", a4.as_uri())
    assert pdf.read_bytes()[:5] == b"%PDF-"
    subprocess.run([str(PDFTOPPM), "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2  # sixteen visits do not fit one sheet
    width, height = png_size(pages[0])
    assert abs(height / width - 297 / 210) < 0.01  # A4 proportions
