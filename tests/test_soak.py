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


@pytest.mark.slow
def test_an_idle_server_polls_less_than_gradios_default():
    """gradio's queue loop looks for events every 1 ms; the app's every 10 ms
    (webhooks.quiet_queue). Both measured here, one after the other: 360 and 130 ms of CPU
    per 10 s idle on the project's machine."""
    from eval.soak import idle_cpu

    gradios = idle_cpu(settle_s=10.0, seconds=8.0, env={"BOKEH_QUEUE_POLL_S": "0.001"})
    ours = idle_cpu(settle_s=10.0, seconds=8.0)
    print(f"\nidle server CPU over 8 s: {ours['cpu_s'] * 1000:.0f} ms, with gradio's "
          f"1 ms loop {gradios['cpu_s'] * 1000:.0f} ms")  # fmt: skip
    assert ours["cpu_per_s"] < 0.7 * gradios["cpu_per_s"], (ours, gradios)
