"""The report page in a real headless Chromium at desktop width: it loads, logs nothing to the console, makes no
network request, and renders something (the screenshot is not blank).

How: Chromium's own switches, no extra packages. ``--enable-logging=stderr`` prints every console message as an
``INFO:CONSOLE`` line; ``--log-net-log`` writes every URL request with the page that caused it, so requests made
for the page (whose network isolation key is its file:// site) are told apart from the browser's own background
traffic. A deliberately bad page checks that both detectors do detect.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_reports_synthetic import dense_sweep, record, write_run

from reports.build import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)")
DESKTOP = (1440, 900)


def chromium(tmp_path: Path, page: Path, *mode: str) -> tuple[str, str, Path]:
    """Run headless Chromium on ``page``; returns stdout, stderr and the net-log path."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    net_log = profile.with_suffix(".netlog.json")
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-extensions", "--disable-default-apps",
            "--mute-audio", f"--user-data-dir={profile}", f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--hide-scrollbars",
            "--enable-logging=stderr", "--v=0", f"--log-net-log={net_log}", *mode, page.as_uri()]
    result = subprocess.run(args, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, result.stderr, net_log


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def page_requests(net_log: Path) -> list[str]:
    """URLs the page asked the network for (requests keyed to the page's file:// site)."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start_job and "file://" in str(params.get("network_isolation_key", "")) + str(params.get("initiator", "")):
            urls.append(params.get("url"))
    return urls


def screenshot_pixels(png: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(png) as image:
        return np.asarray(image.convert("L"), dtype=float)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A page with every section: two devices, a failure, a skip, design-space cells, a profiled cell."""
    root = tmp_path_factory.mktemp("browser")
    records = dense_sweep(lengths=(512, 1024, 2048))
    records.append(record("xformers", 1024, status="failed", reason_code="raised", reason="RuntimeError: no kernel"))
    records.append(record("naive", 8192, status="skipped", reason_code="budget", reason="predicted 9.7 s per call exceeds the 3 s budget"))
    for heads in (1, 4, 16):
        records.append(record("sdpa", 1024, heads=heads, head_dim=512 // heads, model_dim=512, suite="heads", time=1e-3 * heads ** 0.3))
    records[0]["profile"] = {"trace_dir": "results/traces/run/cell", "kernels": 3, "profiler_peak_bytes": 1 << 20,
                             "top_ops": [{"name": "aten::bmm", "self_cpu_us": 10.0, "self_device_us": 0.0, "calls": 2}]}
    gpu = dense_sweep("20260101-000000-gpu", host="gpu-box", device="cuda:0", device_name="NVIDIA H200", scale=0.05, lengths=(512, 1024, 2048))
    runs = [write_run(root / "cpu-run", records), write_run(root / "gpu-run", gpu)]
    return build_report(runs, root / "report")


def test_report_loads_without_console_messages_or_network_requests(report, tmp_path):
    html = report.read_text()
    assert "<script" not in html.lower()
    for attribute in ("src=\"http", "href=\"http", "src='http", "href='http", "url(http", "@import"):
        assert attribute not in html
    dom, stderr, net_log = chromium(tmp_path, report, "--dump-dom")
    assert "<h2>Pareto fronts per shape</h2>" in dom and "<h2>Devices side by side</h2>" in dom  # parsed and laid out whole
    assert console_messages(stderr) == []
    assert page_requests(net_log) == []


def test_report_screenshot_at_desktop_width_is_not_blank(report, tmp_path):
    png = tmp_path / "report.png"
    _, stderr, _ = chromium(tmp_path, report, f"--screenshot={png}")
    pixels = screenshot_pixels(png)
    assert pixels.shape == (DESKTOP[1], DESKTOP[0])
    assert pixels.std() > 10  # text, tables and cards, not a flat page
    assert (pixels < 200).mean() > 0.01  # a real share of dark (ink) pixels
    assert console_messages(stderr) == []


def test_the_detectors_catch_a_bad_page(tmp_path):
    """Without this, an empty console list or request list could mean the detectors are blind."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><h1>bad</h1><img src="http://127.0.0.1:9/pixel.png">'
                   '<script>console.error("boom")</script></body></html>')
    _, stderr, net_log = chromium(tmp_path, bad, "--dump-dom")
    assert any("boom" in line for line in console_messages(stderr))
    assert "http://127.0.0.1:9/pixel.png" in page_requests(net_log)


def test_the_answer_table_is_visible_in_the_first_viewport(report, tmp_path):
    """The answer at the top of the page: its table is laid out inside the first screen at desktop width, and that region
    of the real screenshot has ink (text on a table), not a blank area. Where it lies is found by painting the answer
    tables magenta in a copy of the page."""
    marked = tmp_path / "marked.html"
    paint = "<style>table.answer, table.answer * { background: #ff00ff !important; color: #ff00ff !important; }</style>"
    marked.write_text(report.read_text().replace("</head>", paint + "</head>", 1))
    marked_png, plain_png = tmp_path / "marked.png", tmp_path / "plain.png"
    chromium(tmp_path, marked, f"--screenshot={marked_png}")
    chromium(tmp_path, report, f"--screenshot={plain_png}")
    from PIL import Image

    with Image.open(marked_png) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=int)
    magenta = (rgb[..., 0] > 230) & (rgb[..., 1] < 40) & (rgb[..., 2] > 230)
    assert magenta.mean() > 0.02, "the answer table is not in the first viewport"
    rows, columns = np.nonzero(magenta)
    region = screenshot_pixels(plain_png)[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    assert region.shape[0] > 60 and region.shape[1] > 300  # a table of several rows and columns, not a sliver
    assert region.std() > 10 and (region < 160).mean() > 0.01  # text in it
