"""The values of a run's secrets, read and opened when it is dispatched.

Only jobs whose `definition.secrets` names some pay a read: one query for all the names of the
run. A secret deleted since the configuration was applied, or one that does not open (sealed
with a key this master lacks, or altered), ends the run `exception` with a reason naming it;
the reason never holds a value.
"""

from __future__ import annotations

from collections.abc import Sequence

from podium_storage.interface import Storage
from podium_storage.sealing import SealingError, SecretsKeys


class SecretsUnavailable(Exception):
    """A run's secrets cannot be given to it; the message is the run's reason."""


class RunSecrets:
    """Reads and opens the secrets a run's job names."""

    def __init__(self, storage: Storage, keys: SecretsKeys | None) -> None:
        self._storage = storage
        self._keys = keys

    async def values(self, project: str, names: Sequence[str]) -> dict[str, str]:
        """Name → value of each of `names` in `project`.

        Raises:
            SecretsUnavailable: one is missing or does not open, or this master has no key.
        """
        sealed = await self._storage.get_sealed_secrets(project, names)
        missing = [name for name in names if name not in sealed]
        if missing:
            listed = ", ".join(missing)
            raise SecretsUnavailable(f"secret {listed} of project {project} does not exist (deleted since applied?)")
        if self._keys is None:
            raise SecretsUnavailable(f"this master has no secrets key (--secrets-key-file): cannot open {names[0]}")
        try:
            return {name: self._keys.open(project, name, sealed[name]) for name in names}
        except SealingError as exc:
            raise SecretsUnavailable(str(exc)) from None
