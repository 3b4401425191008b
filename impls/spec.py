"""Parsing of parameterized names such as ``sliding-window[w=256]`` or ``padding[lengths=300/150]``.

Implementations and masks share this one syntax so a sweep over a parameter is a list of names.
"""

from __future__ import annotations

import re

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.+-]+?)\s*(?:\[(.*)\])?\s*$")


def parse_spec(text: str) -> tuple[str, dict[str, str]]:
    """Split ``name[k=v,k2=v2]`` into ``("name", {"k": "v", "k2": "v2"})``; values stay strings."""
    match = _SPEC.match(text)
    if not match:
        raise ValueError(f"malformed name {text!r} (expected name or name[key=value,...])")
    name, body = match.group(1), match.group(2)
    params: dict[str, str] = {}
    if body:
        for item in body.split(","):
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ValueError(f"malformed parameter {item!r} in {text!r} (expected key=value)")
            params[key.strip()] = value.strip()
    return name, params


def format_spec(name: str, params: dict[str, object]) -> str:
    """Inverse of :func:`parse_spec`; parameters keep their declaration order."""
    if not params:
        return name
    return f"{name}[{','.join(f'{k}={_format_value(v)}' for k, v in params.items())}]"


def _format_value(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return "/".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def coerce(value: str, like: object, what: str) -> object:
    """Convert the string ``value`` to the type of the default ``like``; ``what`` names it in errors."""
    try:
        if isinstance(like, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
        if isinstance(like, tuple):
            return tuple(int(v) for v in value.split("/") if v)
    except ValueError:
        kind = "true/false" if isinstance(like, bool) else type(like).__name__
        raise ValueError(f"{what}={value!r} is not a valid {kind}") from None
    return value
