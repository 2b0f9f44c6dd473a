"""``python -m bokeh``: see :mod:`bokeh.cli`."""

from bokeh.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
