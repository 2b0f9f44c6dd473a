"""The package version (its own module, so low-level code can read it without the package's
public API)."""

__version__ = "0.1.0"
