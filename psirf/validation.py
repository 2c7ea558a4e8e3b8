"""Turning a pydantic ``ValidationError`` on a config file into one line a person can act on.

The registry and the mapping profiles are validated with pydantic models on load (:mod:`psirf.registry`,
:mod:`transforms.profile`). Pydantic's own report spans many lines and talks about models; the message here names
the file, the key (as written in the TOML) and what was expected, on one line.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from psirf.errors import ConfigError

Location = tuple[int | str, ...]

_EXPECTED = {
    "bool_type": "true or false", "string_type": "a string", "list_type": "a list", "dict_type": "a table",
    "int_type": "a whole number", "missing": "a value (the key is required)",
    "extra_forbidden": "no such key (check its spelling)", "literal_error": None, "too_short": None,
}


def _dotted(loc: Location) -> str:
    return ".".join(str(part) for part in loc)


def config_error(source: str, exc: ValidationError, where: Callable[[Location], str] = _dotted) -> ConfigError:
    """One :class:`ConfigError`: ``<file>: <key>: <what was wrong>; expected <what>``, every problem on one line."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        expected = _EXPECTED.get(err["type"])
        if err["type"] == "missing":
            problems.append(f"{where(loc)}: missing; expected {expected}")
        elif err["type"] == "extra_forbidden":
            problems.append(f"{where(loc)}: unknown key; expected {expected}")
        elif expected:
            problems.append(f"{where(loc)}: got {err.get('input')!r}; expected {expected}")
        else:
            problems.append(f"{where(loc)}: {msg}")
    return ConfigError(f"{source}: " + "; ".join(problems))
