"""Every method and network the project defines, one file per family (see :mod:`bokeh.specs`).

Adding a method is one new file here that declares its ``SPECS`` (plus its architecture in
``bokeh.models`` and its training step in ``training.recipes`` when it is trained), and one line
in :data:`MODULES`, which sets the order of the app's tabs and of every listing.
"""

from __future__ import annotations

from bokeh.methods import bggan, cyclegan, densedepth, depth_blur, identity, pix2pix

MODULES = (identity, depth_blur, densedepth, pix2pix, cyclegan, bggan)

__all__ = ["MODULES"]
