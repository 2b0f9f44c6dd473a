"""bokeh.rowbands.in_bands: bands of rows that cover an image once, in order."""

from __future__ import annotations

import pytest

from bokeh.rowbands import in_bands


@pytest.mark.parametrize(
    ("rows", "threads", "bands"), [(10, 1, 1), (10, 3, 3), (2, 8, 2), (1, None, 1)]
)
def test_bands_cover_every_row_once_in_order(rows, threads, bands):
    spans = in_bands(lambda y0, y1: (y0, y1), rows, threads)
    assert len(spans) == bands
    assert [y for y0, y1 in spans for y in range(y0, y1)] == list(range(rows))
    assert all(y1 > y0 for y0, y1 in spans)
