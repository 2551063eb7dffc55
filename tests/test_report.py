"""gemmbench report: one self-contained page, checked for structure and in a real browser."""

import base64
import re
import shutil
import subprocess

import pytest

from gemmbench.cli import main
from gemmbench.result import ResultWriter, read_results
from tests_support import make_row

pytest.importorskip("matplotlib", reason="the report's plots need matplotlib (extra 'plots')")

ROWS = [
    make_row(backend="numpy", m=64, n=64, k=64, gflops=10.0, median_s=5.24288e-05, noise="ok"),
    make_row(backend="numba", m=64, n=64, k=64, gflops=12.0, median_s=4.3e-05, noise="noisy (IQR 12% of median)"),
    make_row(backend="numba", m=8, n=8, k=8, status="wrong", gflops=None, reason="entry (0, 0): error nan"),
    make_row(backend="cupy", m=8, n=8, k=8, status="skipped", gflops=None, median_s=None, reason="no CUDA device"),
    make_row(backend="numpy", m=8, n=8, k=8, status="error", gflops=None, median_s=None, reason="RuntimeError: x"),
]


def _page(tmp_path, rows=ROWS, env=""):
    path = tmp_path / "run.csv"
    with ResultWriter(path) as w:
        for r in rows:
            w.write(r if not env else make_row(**{**r.__dict__, "env": env}))
    out = tmp_path / "page.html"
    assert main(["report", str(path), "-o", str(out)]) == 0
    return path, out, out.read_text()


def test_the_page_needs_nothing_outside_itself(tmp_path):
    _, _, page = _page(tmp_path)
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', page) + re.findall(r"@import\s+([^;]+)", page)
    external = [r for r in refs if not (r.startswith("#") or r.startswith("data:"))]
    assert not external, external[:5]
    assert page.count("<svg") >= 3 and "<script>" in page and "<style>" in page


def test_the_embedded_csv_reproduces_the_rows(tmp_path):
    path, _, page = _page(tmp_path)
    data = re.search(r'href="data:text/csv;base64,([^"]+)"', page).group(1)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(base64.b64decode(data))
    assert read_results(copy) == read_results(path)


def test_every_status_and_flag_is_shown_with_its_reason(tmp_path):
    _, _, page = _page(tmp_path, env='{"OPENBLAS_CORETYPE": "Haswell"}')
    for text in (
        "wrong",
        "skipped",
        "error",
        "entry (0, 0): error nan",
        "no CUDA device",
        'class="flagged"',
        'class="bad"',
        "OPENBLAS_CORETYPE set when measuring",
    ):
        assert text in page, text


def test_a_run_with_only_failed_rows_still_gives_a_page_that_says_so(tmp_path):
    _, _, page = _page(tmp_path, rows=ROWS[2:])
    assert "No row measured successfully: 3 rows are error, wrong or skipped" in page
    assert "No ok rows: nothing to plot." in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium); .ci/run installs it")
def test_the_page_renders_in_a_real_browser(tmp_path):
    _, out, _ = _page(tmp_path)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,1400"]
    dom = subprocess.run([*flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "<table" in dom and "numba" in dom and "entry (0, 0): error nan" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", out.as_uri()], capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.std() > 0.05  # not blank
    top = pixels[: pixels.shape[0] // 3]
    assert (top[..., :3].mean(axis=2) < 0.5).mean() > 0.005  # text and plot lines in the top third
