"""``python -m bokeh``: see :mod:`bokeh.cli`."""

from bokeh.cli import main
from bokeh.webguard import tune_malloc

if __name__ == "__main__":
    tune_malloc()  # large blocks kept between a network's layers (see bokeh.webguard)
    raise SystemExit(main())
