"""Templates in command arguments (docs/jobs.md), parsed by hand.

A template may read only ``{parameters.KEY}``, ``{run.id}``, ``{run.project}``, ``{run.job}``,
``{worker.KEY}`` and ``{results.KEY}``; ``{{`` and ``}}`` stand for literal braces. One filter
exists: ``{parameters.KEY|sh}`` inserts the value quoted for a POSIX shell (`shell_quote`), for
``sh -c`` strings. Anything else (an unknown namespace or filter, indexing, a conversion or
format spec, an unbalanced brace, an unknown key) is a `TemplateError`. `str.format` is
deliberately not used: it allows attribute access and indexing on the values.
A value is inserted literally and never parsed again.

Webhook triggers (docs/jobs.md, Webhooks) map fields of a request's JSON body to parameters
with the same syntax and one namespace of their own, ``{payload.PATH}``: `render_payload`
walks the dotted PATH through objects and, for a segment of digits, lists; a field the body
lacks is a `MissingField` naming it.

One parser for every place that reads a template: the worker's executor renders commands with it,
and the configuration checks at apply time use it to refuse a bad template before any run.
It is a package of its own, beside `podium_model`, because it must stay stdlib only: the executor
imports it on every run's critical path, and `podium_model` brings pydantic.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # typing and collections.abc cost milliseconds on every run's start
if TYPE_CHECKING:
    from collections.abc import Mapping

    Context = Mapping[str, Mapping[str, object]]
    """Values by namespace then key, e.g. ``{"run": {"id": "..."}, "parameters": {...}}``."""

NAMESPACES = ("parameters", "run", "worker", "results")
"""The only names a template may read."""

PAYLOAD_NAMESPACES = ("payload",)
"""The only name a webhook trigger's parameter template may read."""

FILTERS = ("sh",)
"""The only filters a field may name after ``|``."""

_SHELL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@%+=:,./-_")
"""Characters a POSIX shell never interprets (the set of `shlex.quote`, which costs an import)."""

_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
"""Characters a key may hold (a compiled regex would cost start-up time)."""


class TemplateError(ValueError):
    """A template that is not allowed, or that names a value that does not exist."""


class MissingField(TemplateError):
    """A ``{payload.PATH}`` the webhook's body does not hold; `path` is ``payload.PATH``."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"the payload has no field {path}")


class Field:
    """One ``{namespace.key}`` or ``{namespace.key|filter}`` reference in a template."""

    __slots__ = ("namespace", "key", "filter")

    def __init__(self, namespace: str, key: str, filter: str | None = None) -> None:
        self.namespace = namespace
        self.key = key
        self.filter = filter

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and (self.namespace, self.key, self.filter) == (
            other.namespace,
            other.key,
            other.filter,
        )

    def __hash__(self) -> int:
        return hash((self.namespace, self.key, self.filter))

    def __repr__(self) -> str:
        if self.filter is None:
            return f"Field({self.namespace!r}, {self.key!r})"
        return f"Field({self.namespace!r}, {self.key!r}, {self.filter!r})"


Segment = str | Field


def _field(template: str, body: str, namespaces: tuple[str, ...] = NAMESPACES) -> Field:
    """Parse the text between one pair of braces."""
    for char, what in (("[", "indexing"), ("!", "a conversion"), (":", "a format spec"), ("(", "a call")):
        if char in body:
            raise TemplateError(f"{what} is not allowed in template {{{body}}} of {template!r}")
    body, bar, name = body.partition("|")
    if bar and name not in FILTERS:
        allowed = ", ".join(FILTERS)
        raise TemplateError(f"unknown filter {name!r} in {template!r} (allowed: {allowed})")
    namespace, dot, key = body.partition(".")
    if not dot:
        raise TemplateError(f"template {{{body}}} of {template!r} must read NAMESPACE.KEY")
    if namespace not in namespaces:
        allowed = ", ".join(namespaces)
        raise TemplateError(f"unknown namespace {namespace!r} in {template!r} (allowed: {allowed})")
    if not key or not _KEY_CHARS.issuperset(key):
        raise TemplateError(f"invalid key {key!r} in template {{{body}}} of {template!r}")
    return Field(namespace, key, name if bar else None)


def parse(template: str, namespaces: tuple[str, ...] = NAMESPACES) -> list[Segment]:
    """Split `template` into literal text and fields, which may read only `namespaces`.

    Raises:
        TemplateError: the template is malformed or reads something not allowed.
    """
    segments: list[Segment] = []
    text: list[str] = []
    i, n = 0, len(template)
    while i < n:
        char = template[i]
        if char == "{":
            if template.startswith("{{", i):
                text.append("{")
                i += 2
                continue
            end = template.find("}", i + 1)
            opening = template.find("{", i + 1)
            if end < 0 or (0 <= opening < end):
                raise TemplateError(f"unbalanced '{{' at position {i} of {template!r}")
            if text:
                segments.append("".join(text))
                text = []
            segments.append(_field(template, template[i + 1 : end], namespaces))
            i = end + 1
        elif char == "}":
            if not template.startswith("}}", i):
                raise TemplateError(f"unbalanced '}}' at position {i} of {template!r} (write '}}}}' for a brace)")
            text.append("}")
            i += 2
        else:
            text.append(char)
            i += 1
    if text:
        segments.append("".join(text))
    return segments


def _value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def shell_quote(value: str) -> str:
    """`value` as one word of a POSIX shell, whatever it holds (what `shlex.quote` returns)."""
    if value and _SHELL_SAFE.issuperset(value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def render(template: str, context: Context) -> str:
    """Return `template` with every field replaced by its value from `context`.

    String values are inserted verbatim; other values (results may hold any JSON) as JSON.

    Raises:
        TemplateError: the template is malformed, or a key is missing from `context`.
    """
    out: list[str] = []
    for segment in parse(template):
        if isinstance(segment, str):
            out.append(segment)
            continue
        values = context.get(segment.namespace, {})
        if segment.key not in values:
            raise TemplateError(f"unknown key {segment.namespace}.{segment.key} in {template!r}")
        value = _value(values[segment.key])
        out.append(shell_quote(value) if segment.filter == "sh" else value)
    return "".join(out)


def check(template: str, context: Context, deferred: frozenset[str] = frozenset({"results"})) -> None:
    """Validate `template` against `context` without rendering it.

    Keys of the `deferred` namespaces are not checked: results are produced by earlier
    commands, so they only exist when the command that reads them is about to start.

    Raises:
        TemplateError: the template is malformed, or a non-deferred key is missing.
    """
    for segment in parse(template):
        if isinstance(segment, Field) and segment.namespace not in deferred:
            if segment.key not in context.get(segment.namespace, {}):
                raise TemplateError(f"unknown key {segment.namespace}.{segment.key} in {template!r}")


def lookup(document: object, path: str) -> object:
    """The value at the dotted `path` of a JSON `document` (a digit segment indexes a list).

    Raises:
        MissingField: a segment names nothing there (``payload.PATH`` in its message).
    """
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise MissingField(f"payload.{path}")
    return value


def render_payload(template: str, payload: object) -> str:
    """A webhook trigger's parameter: `template` with each ``{payload.PATH}`` read from `payload`.

    A string is inserted verbatim, any other JSON value (number, object, null...) as JSON.

    Raises:
        MissingField: a field the payload lacks, named.
        TemplateError: the template is malformed or reads another namespace.
    """
    out: list[str] = []
    for segment in parse(template, PAYLOAD_NAMESPACES):
        if isinstance(segment, str):
            out.append(segment)
            continue
        value = _value(lookup(payload, segment.key))
        out.append(shell_quote(value) if segment.filter == "sh" else value)
    return "".join(out)
