"""The artifact store beside the logs: appends at the offset held, checksums, manifest, deletion with the log."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from podium_model import Artifact
from podium_storage.artifacts import ArtifactStore
from podium_storage.logs import DirectoryLogStore, LogOffsetMismatch


async def test_append_resume_manifest_and_delete_with_the_log(tmp_path: Path) -> None:
    logs = DirectoryLogStore(tmp_path)
    store = ArtifactStore(logs)
    assert store.held("p", "r1", "out/a.bin") == 0
    assert store.append("p", "r1", "out/a.bin", 0, b"abc") == 3
    with pytest.raises(LogOffsetMismatch) as mismatch:
        store.append("p", "r1", "out/a.bin", 0, b"abc")  # a copy sent twice writes nothing
    assert mismatch.value.size == 3
    assert store.append("p", "r1", "out/a.bin", 3, b"def") == 6
    assert store.sha256("p", "r1", "out/a.bin") == hashlib.sha256(b"abcdef").hexdigest()
    artifact = Artifact(path="out/a.bin", size=6, sha256=hashlib.sha256(b"abcdef").hexdigest())
    assert store.manifest("p", "r1") == []
    store.write_manifest("p", "r1", [artifact])
    assert store.manifest("p", "r1") == [artifact]
    await logs.append("p", "r1", 0, b"log")
    assert await logs.delete("p", "r1")
    assert store.manifest("p", "r1") == [] and not logs.artifacts("p", "r1").exists()
    assert not await logs.delete("p", "r1")  # nothing left: no error either


@pytest.mark.parametrize("path", ["../x", "/abs", "a/../../b", "", "a\x00b"])
def test_a_path_leaving_the_run_directory_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError):
        ArtifactStore(DirectoryLogStore(tmp_path)).file("p", "r1", path)
