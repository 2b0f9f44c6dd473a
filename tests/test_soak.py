"""Sustained use of the launched app (``python app.py`` in its own process): its memory levels
off instead of growing with every round of renders (issue #12, item 10). Slow: a few minutes.
``python -m eval.soak memory`` prints the same measurement at a larger scale."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_server_memory_levels_off_under_sustained_load():
    """Three rounds of 8 clients x 4 renders at 1024x683. Before the fix, glibc kept each
    render's freed arrays in per-thread arenas and the server grew by 140-270 MiB between the
    first and the last of four such rounds (16 clients x 3); now it stays within a few tens."""
    from eval.soak import memory_rounds

    r = memory_rounds(rounds=3, clients=8, requests=4, idle_s=2.0)
    print(
        f"\nserver RSS (MiB): start {r['start_mib']:.0f}, after rounds "
        f"{', '.join(f'{v:.0f}' for v in r['after_round_mib'])}, idle {r['idle_mib']:.0f}"
    )
    assert r["errors"] == []
    first, *later = r["after_round_mib"]
    assert max(later) - first < 60, r["after_round_mib"]
