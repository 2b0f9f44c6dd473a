"""Exception types. Every error a user can cause derives from :class:`BokehError`
and carries a message meant for a person, not a traceback."""


def brief(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that quote what was given."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BokehError(Exception):
    """Base class of all errors this package raises on purpose."""


class ImageReadError(BokehError, ValueError):
    """The input is not a readable image (corrupt, wrong type, too large, ...)."""


class UnknownMethodError(BokehError, KeyError):
    """A method name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsNotFoundError(BokehError, FileNotFoundError):
    """No weights could be resolved for a model; the message says how to get them."""


class UnsafeCheckpointError(BokehError, ValueError):
    """A checkpoint in a format that can execute code (pickle) was refused."""


class DatasetNotFoundError(BokehError, FileNotFoundError):
    """A dataset is missing or laid out in a way the loader does not understand."""


class FileNotAvailableError(BokehError):
    """A request named a file that was not uploaded to this server (or is gone)."""


class EmbeddedDepthError(BokehError, ValueError):
    """A photo carries a depth map that cannot be used (malformed, too large, unsupported)."""
