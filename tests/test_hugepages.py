"""Importing bokeh turns on PyTorch's huge-page allocation (THP_MEM_ALLOC_ENABLE) unless the
user set it: a network's activations are then faulted in 2 MiB at a time, not 4 KiB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")

# Five 64 MiB tensors allocated, filled and freed: 82,000 faults with 4 KiB pages, about 2,800
# with huge pages on this machine.
PROBE = """
import resource, sys
import bokeh, torch
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    block = torch.ones(64 << 18)
    del block
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""
SMALL_PAGE_FAULTS = 5 * (64 << 20) // 4096  # one fault per 4 KiB page


def _run(code: str, preset: str | None) -> str:
    """stdout of ``python -c code`` with THP_MEM_ALLOC_ENABLE unset or set to ``preset``."""
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if preset is not None:
        env["THP_MEM_ALLOC_ENABLE"] = preset
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=120)  # fmt: skip
    return out.stdout


def _faults(preset: str | None) -> int:
    return int(_run(PROBE, preset).split()[-1])


def test_the_package_sets_it_without_overriding_the_user():
    code = "import os, bokeh; print(os.environ['THP_MEM_ALLOC_ENABLE'])"
    for preset, expected in ((None, "1"), ("0", "0")):
        assert _run(code, preset).strip() == expected


@pytest.mark.skipif(
    not THP_MODE.exists() or "[madvise]" not in THP_MODE.read_text(),
    reason="the kernel's THP mode is not madvise (never: no huge pages; always: huge pages "
    "without the advice too)",
)
def test_large_torch_blocks_fault_in_huge_pages():
    with_bokeh = _faults(None)
    turned_off = _faults("0")
    assert turned_off > 0.8 * SMALL_PAGE_FAULTS  # 4 KiB pages: the probe measures faults
    assert with_bokeh < 0.2 * SMALL_PAGE_FAULTS
