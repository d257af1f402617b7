"""A run's archive (`.tar.gz` of run.json, log.txt, results.json), produced as a stream.

The archive is never whole in memory: the tar members are written by hand (a header from
`tarfile.TarInfo`, the content, padding to 512-byte blocks) and compressed by one gzip stream
as they go, the log read from the store `CHUNK` bytes at a time. A download therefore holds
about one chunk and the compressor's state, whatever the log's size. The log is archived up to
the size it had when the download started, so a log still growing gives a consistent archive.
"""

from __future__ import annotations

import asyncio
import json
import tarfile
import zlib
from collections.abc import AsyncIterator

from podium_model import Run
from podium_storage.logs import LogStore

CHUNK = 1 << 20
"""Bytes of log read, compressed and sent at a time."""

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


def _header(run: Run, name: str, size: int) -> bytes:
    info = tarfile.TarInfo(f"{run.id}/{name}")
    info.size = size
    info.mtime = int(run.updated_at.timestamp())
    info.mode = 0o644
    return info.tobuf(tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


async def archive_chunks(run: Run, logs: LogStore) -> AsyncIterator[bytes]:
    """The gzip-compressed tar of `run`, in pieces (each log chunk compressed on a thread).

    Raises:
        ValueError: the run's project or id cannot name a log file (never for stored runs).
    """
    gzip = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    written = 0  # uncompressed tar bytes so far

    def tar(data: bytes) -> bytes:
        nonlocal written
        written += len(data)
        return gzip.compress(data)

    document = run.model_dump_json(indent=2).encode()
    results = json.dumps(run.results, indent=2).encode()
    log_size = await logs.size(run.project, run.id)
    yield tar(_header(run, "run.json", len(document)) + document + _padding(len(document)))
    yield tar(_header(run, "log.txt", log_size))
    sent = 0
    while sent < log_size:
        piece = await logs.read(run.project, run.id, sent, min(CHUNK, log_size - sent))
        if not piece:  # removed meanwhile (retention): keep the member its announced size
            piece = b"\0" * min(CHUNK, log_size - sent)
        sent += len(piece)
        out = await asyncio.to_thread(tar, piece)
        if out:
            yield out
    tail = tar(_padding(log_size) + _header(run, "results.json", len(results)) + results + _padding(len(results)))
    # Like tarfile: two zero blocks, then zeros up to a whole record.
    end = b"\0" * (2 * _BLOCK)
    end += b"\0" * (-(written + len(end)) % _RECORD)
    yield tail + tar(end) + gzip.flush()
