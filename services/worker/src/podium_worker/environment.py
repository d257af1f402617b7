"""What a run's commands find in their environment (documented in docs/jobs.md).

A command never inherits the worker's environment as a whole: the worker may hold its token,
an administrator's password or anything else its operator exported. It sees, later entries
winning:

1. the base: ``PATH`` (the worker's, else `os.defpath`), ``HOME``, ``LANG``, ``LC_*``, ``TZ``,
   ``TMPDIR`` and ``USER`` when the worker has them (``HOME`` and ``USER`` are the run-as
   user's under ``--run-as``);
2. the variables named by the worker's ``--pass-env`` (`PASS_ENV`, comma-separated);
3. the job's ``environment`` (rendered templates), then the master's (``PODIUM_API_URL``,
   ``PODIUM_TOKEN``);
4. the run's secrets, each under its own name;
5. every parameter as ``PODIUM_PARAM_<KEY>`` (`param_name`);
6. ``PODIUM_RUN_ID``, ``PODIUM_PROJECT``, ``PODIUM_JOB``, ``PODIUM_RESULTS``, ``PODIUM_WORKSPACE``,
   and ``PODIUM_PAYLOAD`` for a webhook run (the path of its request body).

Stdlib only: the executor imports this module on every run's critical path.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs milliseconds on every run's start
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

BASE = ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "USER")
"""Variables of the worker every command gets (with every ``LC_*``)."""

PASS_ENV = "PODIUM_WORKER_PASS_ENV"
"""The worker's allow-list of further variables, comma-separated; the worker exports the merged
``--pass-env`` flags under this name to its executors."""

PARAM_PREFIX = "PODIUM_PARAM_"

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def param_name(key: str) -> str:
    """The variable of parameter `key`: ``PODIUM_PARAM_`` + the key upper-cased, every character
    other than ``A-Z``, ``0-9`` and ``_`` replaced by ``_`` (``name`` → ``PODIUM_PARAM_NAME``)."""
    return PARAM_PREFIX + "".join(c if c in _NAME_CHARS else "_" for c in key.upper())


def pass_list(value: str | None) -> list[str]:
    """The items of a comma-separated variable (``PODIUM_WORKER_PASS_ENV``, ``..._MASTER``), blanks ignored."""
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def base(environ: Mapping[str, str], home: str | None = None, user: str | None = None) -> dict[str, str]:
    """The part of `environ` (the worker's) that every command gets: the base and the allow-list.

    Args:
        environ: the executor's environment, which is the worker's.
        home: ``HOME`` of the run-as user, replacing the worker's.
        user: ``USER`` of the run-as user, replacing the worker's.
    """
    env = {name: environ[name] for name in BASE if name in environ}
    env.update((name, value) for name, value in environ.items() if name.startswith("LC_"))
    env.setdefault("PATH", os.defpath)
    env.update((name, environ[name]) for name in pass_list(environ.get(PASS_ENV)) if name in environ)
    if home is not None:
        env["HOME"] = home
    if user is not None:
        env["USER"] = user
    return env


def parameters(values: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    """``(PODIUM_PARAM_<KEY>, value)`` of every parameter, in key order.

    Keys differing only in case or in characters outside ``[A-Za-z0-9_]`` name one variable;
    the last key in code-point order wins, so the outcome never depends on the request's order.
    """
    return ((param_name(key), values[key]) for key in sorted(values))
