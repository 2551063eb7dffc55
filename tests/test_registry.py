import sys
import textwrap

import pytest

from gemmbench.registry import ENTRY_POINTS_ENV, KERNEL_PATH_ENV, UnknownBackendError, discover, load_kernel_class

KERNEL_SRC = """
import numpy as np
from gemmbench.kernel import Kernel, Prepared

class {cls}(Kernel):
    name = "{name}"
    description = "planted by a test"

    def prepare(self, case, operands):
        c = np.empty((case.m, case.n), dtype=operands.a.dtype)
        return Prepared(lambda: np.matmul(operands.a, operands.b, out=c), c)

KERNELS = [{cls}]
"""


def _write(folder, stem, cls, name):
    folder.mkdir(exist_ok=True)
    (folder / f"{stem}.py").write_text(KERNEL_SRC.format(cls=cls, name=name))


@pytest.fixture
def clean_path(monkeypatch):
    monkeypatch.delenv(KERNEL_PATH_ENV, raising=False)
    for mod in [m for m in sys.modules if m.startswith(("gemmbench_user_kernels.", "fakeplug"))]:
        monkeypatch.delitem(sys.modules, mod)


def test_builtin_numpy_found_and_available(clean_path):
    reg = discover()
    assert "numpy" in reg.names()
    entry = reg.get("numpy")
    assert entry.origin == "gemmbench.kernels.numpy_gemm"
    assert entry.probe() is None


def test_kernel_folder_module_is_found_without_other_edits(tmp_path, clean_path):
    _write(tmp_path, "mine", "Mine", "mine")
    reg = discover(str(tmp_path))
    assert reg.get("mine").origin == str(tmp_path / "mine.py")
    cls = load_kernel_class(reg.get("mine").module, "Mine", reg.get("mine").path)
    assert cls.name == "mine"


def test_broken_module_is_listed_not_fatal(tmp_path, clean_path):
    (tmp_path / "broken.py").write_text("import not_a_real_module_xyz\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit('no runtime here')\n")
    _write(tmp_path, "fine", "Fine", "fine")
    reg = discover(str(tmp_path))
    assert "fine" in reg.names()
    errors = {p.origin.rsplit("/", 1)[-1]: p.error for p in reg.problems}
    assert "ModuleNotFoundError: No module named 'not_a_real_module_xyz'" in errors["broken.py"]
    assert "SystemExit" in errors["exits.py"]


def test_duplicate_name_rejected_naming_both_origins(tmp_path, clean_path):
    _write(tmp_path, "numpy_again", "Dup", "numpy")
    reg = discover(str(tmp_path))
    assert reg.get("numpy").origin == "gemmbench.kernels.numpy_gemm"  # first one kept
    (problem,) = [p for p in reg.problems if "duplicate" in p.error]
    assert "gemmbench.kernels.numpy_gemm" in problem.error
    assert str(tmp_path / "numpy_again.py") == problem.origin
    assert "duplicate backend name 'numpy'" in problem.error


def test_entry_point_group(tmp_path, monkeypatch, clean_path):
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "fakeplug_mod.py").write_text(KERNEL_SRC.format(cls="Plug", name="plug"))
    dist = pkg / "fakeplug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent("""
        [gemmbench.kernels]
        plug = fakeplug_mod:Plug
        broken = fakeplug_mod:Missing
    """)
    )
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.setenv(ENTRY_POINTS_ENV, "0")  # hermetic: an installed plugin is not seen
    assert "plug" not in discover("").names()
    monkeypatch.setenv(ENTRY_POINTS_ENV, "1")  # the other tests see only what they build (conftest.py)
    reg = discover("")
    assert reg.get("plug").origin == "entry point plug = fakeplug_mod:Plug"
    assert any("fakeplug_mod:Missing" in p.origin and "AttributeError" in p.error for p in reg.problems)


def test_unknown_backend_lists_valid_choices(clean_path):
    reg = discover("")
    with pytest.raises(UnknownBackendError, match=r"unknown backend 'nope'; valid choices: .*numpy"):
        reg.select(["nope"])
    assert [e.name for e in reg.select(None)] == reg.names()


def test_probe_that_raises_becomes_a_reason(clean_path):
    from gemmbench.registry import Entry
    from gemmbench.testing import PlantedWrong

    class Bad(PlantedWrong):
        name = "bad"

        @classmethod
        def probe(cls):
            raise RuntimeError("driver exploded")

    assert Entry("bad", Bad, "test", __name__).probe() == "probe failed: RuntimeError: driver exploded"
