"""Parsing of parameterized names such as ``sliding-window[w=256]`` or ``padding[lengths=300/150]``.

Implementations, masks and command-line lists share this one syntax, so a sweep over a parameter
is a list of names: ``name[key=value,...]``, lists split on a separator outside brackets
(``a,sliding-window[w=1,causal=1],b``), and typed parameter values (int, float, 0/1 flag,
``a/b/c`` integer list) coerced from their defaults.
"""

from __future__ import annotations

import re

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.+-]+?)\s*(?:\[(.*)\])?\s*$")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on ``separator`` outside brackets, strip, drop empty items.

    ``split_top_level("a,w[x=1,y=2],b")`` → ``["a", "w[x=1,y=2]", "b"]``;
    ``split_top_level("padding[lengths=3/2]+causal", "+")`` → ``["padding[lengths=3/2]", "causal"]``.
    """
    items, depth, current = [], 0, []
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == separator and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    return [item for item in items if item]


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
    return f"{name}[{','.join(f'{k}={format_value(v)}' for k, v in params.items())}]"


def format_value(value: object) -> str:
    """A parameter value as written in a name: lists as ``a/b``, whole floats without ``.0``."""
    if isinstance(value, (tuple, list)):
        return "/".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def coerce(value: str, like: object, what: str) -> object:
    """Convert the string ``value`` to the type of the default ``like``; ``what`` names it in errors."""
    try:
        if isinstance(like, bool):
            if value.strip().lower() in _TRUE:
                return True
            if value.strip().lower() in _FALSE:
                return False
            raise ValueError
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
        if isinstance(like, tuple):
            return tuple(int(v) for v in value.split("/") if v.strip())
    except ValueError:
        accepted = {bool: "0 or 1", int: "an integer", float: "a number", tuple: "integers separated by '/'"}[type(like)]
        raise ValueError(f"{what}={value} is not valid (expected {accepted})") from None
    return value


def parse_params(name: str, params: dict[str, object], defaults: dict[str, object], label: str | None = None) -> dict[str, object]:
    """``defaults`` updated with ``params``, string values coerced to each default's type.

    An unknown key is refused, naming every accepted one; ``label`` (default: ``name``) names the
    owner in that message, ``name[key]`` names a value that does not convert.
    """
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        accepted = ", ".join(defaults) or "none"
        raise ValueError(f"{label or name} has no parameter {unknown[0]!r} (parameters: {accepted})")
    values = dict(defaults)
    for key, value in params.items():
        values[key] = coerce(value, defaults[key], f"{name}[{key}]") if isinstance(value, str) else value
    return values
