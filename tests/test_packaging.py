"""Import hygiene: optional libraries stay unimported, and the repo root stays off sys.path."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import gemmbench

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "cupy", "torch", "torch_npu", "matplotlib", "ml_dtypes", "dask", "distributed", "pynvml")


def test_import_and_list_do_not_import_optional_dependencies():
    code = (
        "import sys, gemmbench; from gemmbench.cli import main; main(['list']); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_a_local_run_does_not_import_dask(tmp_path):
    """Nothing imports Dask unless --cluster is given (the run command itself knows the fleet)."""
    code = (
        "import sys; from gemmbench.cli import main; "
        "main(['run', '-b', 'numpy', '-s', '16', '--quick', '-o', 'r.csv']); "
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_repo_root_is_not_on_sys_path():
    roots = {os.path.realpath(p or os.getcwd()) for p in sys.path}
    assert str(REPO) not in roots
    spec = importlib.util.find_spec("kernels")
    assert spec is None or not str(spec.origin or "").startswith(str(REPO)), "repo's kernels/ importable top-level"


def test_package_mapping():
    assert Path(gemmbench.__file__).parent == REPO / "bench"
    from gemmbench import kernels

    assert Path(kernels.__file__).parent == REPO / "kernels"
    assert not (REPO / "tests" / "__init__.py").exists() and not (REPO / "conftest.py").exists()
