"""What the review store accepts: reviewer names, notes, tags, ids and times, checked and
normalised, each refusal one sentence (:class:`ReviewValidationError`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from bokeh.errors import BokehError

MAX_NOTE_CHARS = 5000
MAX_REVIEWER_CHARS = 80
MAX_TAG_CHARS = 40
MAX_TAGS = 20
MAX_ID_CHARS = 200


class ReviewValidationError(BokehError, ValueError):
    """A note, tag, reviewer name or id that the store refuses (the message says which)."""


def normalize_tags(tags: str | Iterable[str] | None) -> tuple[str, ...]:
    """Clean a tag list: split on commas/semicolons, strip, lowercase, collapse inner spaces,
    drop empty entries and duplicates (first occurrence wins, order kept).

    ``tags`` may be one string (``"halo, Wrong focus"``), an iterable of strings, or None.
    Raises :class:`ReviewValidationError` for a non-string tag, a tag longer than
    ``MAX_TAG_CHARS`` characters or more than ``MAX_TAGS`` tags.
    """
    if tags is None:
        return ()
    items = [tags] if isinstance(tags, str) else list(tags)
    out: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str):
            raise ReviewValidationError(f"Tags must be text; got {type(item).__name__}.")
        for part in clean_text(item, "tag").replace(";", ",").split(","):
            tag = " ".join(part.split()).lower()
            if not tag:
                continue
            if len(tag) > MAX_TAG_CHARS:
                raise ReviewValidationError(
                    f"Tag '{tag[:20]}...' is {len(tag)} characters long; "
                    f"tags are at most {MAX_TAG_CHARS}."
                )
            out[tag] = None
    if len(out) > MAX_TAGS:
        raise ReviewValidationError(f"A note can carry at most {MAX_TAGS} tags; got {len(out)}.")
    return tuple(out)


def clean_text(value: str, what: str) -> str:
    """``value`` without NUL characters; refused when it is not valid Unicode (a lone
    surrogate, which only a forged request can send, cannot be stored or exported)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ReviewValidationError(
            f"The {what} holds characters that are not valid text."
        ) from None
    return value.replace("\x00", "")


def check_id(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ReviewValidationError(f"The {what} must be text; got {type(value).__name__}.")
    text = clean_text(value, what).strip()
    if not text:
        raise ReviewValidationError(f"The {what} is required and must not be empty.")
    if len(text) > MAX_ID_CHARS:
        raise ReviewValidationError(
            f"The {what} is {len(text)} characters long; at most {MAX_ID_CHARS} are allowed."
        )
    if any(ord(c) < 32 for c in text):
        raise ReviewValidationError(f"The {what} must not contain control characters.")
    return text


def check_reviewer(value: object) -> str:
    if not isinstance(value, str):
        raise ReviewValidationError(f"The reviewer name must be text; got {type(value).__name__}.")
    name = " ".join(clean_text(value, "reviewer name").split())
    if not name:
        raise ReviewValidationError("The reviewer name is required and must not be empty.")
    if len(name) > MAX_REVIEWER_CHARS:
        raise ReviewValidationError(
            f"The reviewer name is {len(name)} characters long; "
            f"at most {MAX_REVIEWER_CHARS} are allowed."
        )
    return name


def check_note(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReviewValidationError(f"The note must be text; got {type(value).__name__}.")
    note = clean_text(value, "note").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ReviewValidationError(
            f"The note is {len(note)} characters long; at most {MAX_NOTE_CHARS} are allowed."
        )
    return note


def check_time(value: object, what: str) -> str:
    """An ISO 8601 time as :mod:`eval.review` writes it (UTC, microseconds)."""
    if not isinstance(value, str):
        raise ReviewValidationError(f"The {what} must be text; got {type(value).__name__}.")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ReviewValidationError(f"The {what} {value[:40]!r} is not an ISO 8601 time.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds")
