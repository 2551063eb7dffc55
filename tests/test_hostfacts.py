"""Host facts that change a figure without changing the code: recorded with every row, read robustly."""

from __future__ import annotations

import pytest

from gemmbench import hostfacts


@pytest.mark.parametrize(
    "text, policy",
    [
        ("always [madvise] never\n", "madvise"),
        ("[always] madvise never\n", "always"),
        ("always madvise [never]\n", "never"),
        ("always madvise never\n", ""),  # nothing chosen: not stated
        ("", ""),
    ],
)
def test_transparent_hugepages_reads_the_chosen_policy(tmp_path, text, policy):
    """The policy is the bracketed word of the kernel's file: NumPy's operands lie on 2 MiB pages under
    ``always`` and ``madvise``, which moved one kernel's figure by a quarter on an Intel Xeon."""
    path = tmp_path / "enabled"
    path.write_text(text)
    assert hostfacts.transparent_hugepages(str(path)) == policy


def test_transparent_hugepages_is_empty_where_the_kernel_states_none(tmp_path):
    """No such file (not Linux, or a kernel without THP) or one that is not text: '' rather than an error."""
    assert hostfacts.transparent_hugepages(str(tmp_path / "missing")) == ""
    garbled = tmp_path / "garbled"
    garbled.write_bytes(b"\xff\xfe[\x80]")
    assert hostfacts.transparent_hugepages(str(garbled)) == ""


def test_every_row_records_the_huge_page_policy_and_numpys_switch():
    """The host facts (the ``libs`` column's ``device.*``) carry ``thp``, and the ``env`` column NumPy's own
    switch NUMPY_MADVISE_HUGEPAGE, while other NUMPY_ variables stay out."""
    assert hostfacts.cpu_facts()["thp"] == hostfacts.transparent_hugepages()
    env = {"NUMPY_MADVISE_HUGEPAGE": "0", "NUMPY_EXPERIMENTAL_DTYPE_API": "1", "OPENBLAS_NUM_THREADS": "1"}
    assert hostfacts.env_snapshot(env) == {"NUMPY_MADVISE_HUGEPAGE": "0", "OPENBLAS_NUM_THREADS": "1"}
