"""Typed job parameters: the one check of a value against its declaration (docs/jobs.md, Parameters).

A trigger, a schedule and a pipeline element give a job's parameters as strings, and strings
they stay on the way to the worker (templates and ``PODIUM_PARAM_*`` insert text). What a type
adds is a check at the entry, and one spelling of each value, so a command never has to guess:

- ``integer``: optional sign then decimal digits, within a signed 64-bit integer; answered and
  passed in its canonical form (``"007"`` → ``"7"``, ``"+5"`` → ``"5"``, ``"-0"`` → ``"0"``),
  so a shell never reads a leading zero as octal;
- ``number``: a decimal or exponent literal (``1``, ``-2.5``, ``1e3``), finite, kept as given
  (any float parser reads it as written; rewriting it would change what people typed);
- ``boolean``: ``true`` or ``false`` in any case, passed lower-case;
- ``choice``: one of the declared `choices`, exactly;
- ``string``: anything, matching `pattern` (a whole-value regular expression) when declared.

The empty string is "not given": a required parameter refuses it, an optional one without a
default passes it through unchecked. The api (triggers), the configuration checks (schedules,
pipeline elements, defaults) and the master (a pipeline's child runs) all call `resolve`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from podium_model.limits import SECRET_VALUE_MIN_BYTES

if TYPE_CHECKING:
    from podium_model.jobs import JobParameter

ParameterType = Literal["string", "integer", "number", "boolean", "choice"]
"""What a parameter's value must be; `string` when a job says nothing."""

PARAMETER_TYPES: tuple[ParameterType, ...] = ("string", "integer", "number", "boolean", "choice")

INTEGER_MIN = -(2**63)
INTEGER_MAX = 2**63 - 1
"""The range of an ``integer`` parameter: what a signed 64-bit integer holds, in any language."""

PATTERN_CHARS = 1000
"""The longest `pattern` a string parameter may declare (characters)."""

CHOICES = 100
"""The most `choices` a choice parameter may declare."""

MASK = "[masked]"
"""What answers show in place of a secret parameter's value (the worker's log mask too)."""

_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_BOOLEANS = {"true": "true", "false": "false"}


def check_value(parameter: JobParameter, value: str) -> str:
    """`value` in its canonical form for `parameter`'s type (docs above).

    Raises:
        ValueError: the value is not one of the type, saying what it should be.
    """
    kind = parameter.type
    if kind == "integer":
        if _INTEGER.fullmatch(value) is None or not INTEGER_MIN <= int(value) <= INTEGER_MAX:
            raise ValueError(f"{value!r} is not an integer (decimal digits, {INTEGER_MIN} to {INTEGER_MAX})")
        return str(int(value))
    if kind == "number":
        if _NUMBER.fullmatch(value) is None or float(value) in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number (e.g. 3, -2.5, 1e3)")
        return value
    if kind == "boolean":
        canonical = _BOOLEANS.get(value.lower())
        if canonical is None:
            raise ValueError(f"{value!r} is not a boolean (true or false)")
        return canonical
    if kind == "choice":
        if value not in parameter.choices:
            shown = ", ".join(repr(choice) for choice in parameter.choices[:10])
            raise ValueError(f"{value!r} is not one of the choices ({shown})")
        return value
    if parameter.pattern is not None and re.fullmatch(parameter.pattern, value) is None:
        raise ValueError(f"{value!r} does not match the pattern {parameter.pattern!r}")
    return value


@dataclass(frozen=True)
class ParameterProblem:
    """One parameter a set of values gets wrong: its key, why, and the kind of mistake."""

    key: str
    message: str
    kind: Literal["unknown", "missing", "invalid"]


def resolve(
    declared: Iterable[JobParameter], given: Mapping[str, str], job: str, inherited: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[ParameterProblem]]:
    """The parameters of a run of `job`: `given` checked against `declared`, defaults filled in.

    Args:
        declared: the job's parameters.
        given: what the trigger, schedule or element says; a key the job does not declare is a
            problem.
        job: the job's id, for messages.
        inherited: values passed down without being given (a pipeline's own parameters to its
            child runs): used for a declared key `given` lacks, never a problem when undeclared.

    Returns:
        The values (canonical forms; an optional parameter without a value is ``""``) and the
        problems, one per key in declaration order; the values mean nothing when there is one.
    """
    parameters = {parameter.key: parameter for parameter in declared}
    problems = [
        ParameterProblem(key, f"job {job!r} has no parameter {key!r}", "unknown")
        for key in given
        if key not in parameters
    ]
    values: dict[str, str] = {key: value for key, value in (inherited or {}).items() if key not in parameters}
    for key, parameter in parameters.items():
        value = given.get(key)
        if value is None and inherited is not None:
            value = inherited.get(key)
        if value is None or (value == "" and parameter.required):
            value = parameter.default
        if value is None or value == "":
            if parameter.required:
                problems.append(ParameterProblem(key, f"parameter {key!r} of job {job!r} is required", "missing"))
            values[key] = ""
            continue
        try:
            values[key] = check_value(parameter, value)
        except ValueError as exc:
            problems.append(ParameterProblem(key, f"parameter {key!r} ({parameter.type}): {exc}", "invalid"))
            continue
        if parameter.secret and len(value.encode()) < SECRET_VALUE_MIN_BYTES:
            shortest = SECRET_VALUE_MIN_BYTES
            message = f"secret parameter {key!r} needs at least {shortest} bytes (shorter ones cannot be masked safely)"
            problems.append(ParameterProblem(key, message, "invalid"))
    return values, problems


def secret_keys(declared: Iterable[JobParameter]) -> list[str]:
    """The keys of the secret parameters among `declared`, in declaration order."""
    return [parameter.key for parameter in declared if parameter.secret]


def masked(parameters: Mapping[str, str], secret: Iterable[str]) -> dict[str, str]:
    """`parameters` with the value of each `secret` key that holds one replaced by `MASK`."""
    hidden = set(secret)
    return {key: MASK if key in hidden and value else value for key, value in parameters.items()}
