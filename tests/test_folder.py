"""Model folders are replaced as a whole and guarded by a lock (laws/folder.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lawsmith.laws.errors import ModelError
from lawsmith.laws.folder import folder_lock, load_model, save_model
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.laws.model import WorldModel
from toy_laws import BERRY


def _model():
    return WorldModel(BERRY, ToyWorld().schema)


def test_a_save_replaces_the_folder_and_keeps_other_files(tmp_path):
    folder = tmp_path / "m"
    save_model(folder, _model(), {"note": 1})
    (folder / "notes.txt").write_text("mine\n")
    (folder / ".laws.law.abc.tmp").write_text("stale")   # what an older writer left
    save_model(folder, _model(), {"note": 2})
    model, manifest = load_model(folder)
    assert manifest["note"] == 2 and (folder / "notes.txt").read_text() == "mine\n"
    assert not list(folder.glob(".*.tmp"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m"]


@pytest.mark.parametrize("stage", ["writing", "ready", "swapped"])
def test_a_save_killed_at_any_stage_leaves_one_whole_folder(tmp_path, stage):
    """The states a kill can leave (module docstring), recovered on the next load."""
    folder = tmp_path / "m"
    save_model(folder, _model(), {"round": 0})
    other = tmp_path / "other"
    save_model(other, _model(), {"round": 1})
    if stage == "writing":      # killed while writing the new files
        os.rename(other, tmp_path / ".m.writing-x")
        expected = 0
    elif stage == "ready":      # killed after the new folder was complete, before the swap
        os.rename(other, tmp_path / ".m.ready-x")
        expected = 0
    else:                       # killed between renaming the old folder aside and the new in
        os.rename(folder, tmp_path / ".m.old-x")
        os.rename(other, tmp_path / ".m.ready-x")
        expected = 1
    _, manifest = load_model(folder)
    assert manifest["round"] == expected
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".other.lock") == [".m.lock",
                                                                                     "m"]


def test_a_second_writer_is_refused(tmp_path):
    folder = tmp_path / "m"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom lawsmith.laws.folder import folder_lock\n"
         f"with folder_lock({str(folder)!r}):\n    print('held', flush=True)\n    time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ModelError, match="another lawsmith process"):
            save_model(folder, _model(), {})
        with folder_lock(tmp_path / "n"):   # another folder is free
            pass
    finally:
        holder.kill()
        holder.wait()
    save_model(folder, _model(), {})   # released when the holder died
    with folder_lock(folder):          # reentrant in one process
        save_model(folder, _model(), {})
