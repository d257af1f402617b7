"""Argon2 hashing in a bounded pool of threads.

Each Argon2id hash or verification holds 64 MiB for tens of milliseconds. Running them on a
pool of `size` threads bounds that memory to `size` hashes at once whatever the number of
parallel logins: the others wait their turn in the pool's queue, which holds only small
closures. The pool is the api's one place that hashes passwords.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from podium_storage.auth import hash_password, verify_password


class PasswordPool:
    """Hash and verify passwords on at most `size` threads."""

    def __init__(self, size: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="argon2")

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """`verify_password` on the pool (the same time for a None hash)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, verify_password, password, password_hash)

    async def hash(self, password: str) -> str:
        """`hash_password` on the pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, hash_password, password)

    def close(self) -> None:
        """Stop the threads once the queued hashes are done."""
        self._pool.shutdown(wait=True)
