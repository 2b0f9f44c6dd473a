"""``python -m training METHOD --data DIR ...`` (see :mod:`training` for the commands)."""

from training.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
