"""Pick English or Simplified Chinese for every message the learner sees.

The language comes from, in order: `set_language()` (the `--lang` option),
the `KATA_LANG` variable, then the locale variables (`LC_ALL`,
`LC_MESSAGES`, `LANG`); anything starting with `zh` selects Chinese.
Messages are written next to the code that prints them as `tr(en, zh)`
pairs, so a new command never has to touch a shared catalog.
"""

from __future__ import annotations

import os

LANGUAGES = ("en", "zh")

_override: str | None = None


def normalize_language(value: str) -> str:
    """Map `en`, `zh`, `zh_CN.UTF-8`, `zh-CN` and similar to `en` or `zh`."""
    lowered = value.strip().lower()
    if lowered.startswith("zh"):
        return "zh"
    if lowered.startswith("en") or lowered in ("c", "posix", ""):
        return "en"
    raise ValueError(f"unknown language {value!r}: use 'en' or 'zh'")


def set_language(value: str | None) -> None:
    """Force the language for this process; None goes back to the environment."""
    global _override
    _override = None if value is None else normalize_language(value)


def current_language() -> str:
    if _override is not None:
        return _override
    explicit = os.environ.get("KATA_LANG")
    if explicit:
        try:
            return normalize_language(explicit)
        except ValueError:
            return "en"
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def tr(en: str, zh: str) -> str:
    """Return the message in the current language."""
    return zh if current_language() == "zh" else en
