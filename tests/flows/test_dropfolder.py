"""Drop-folder pick-up rules and restart safety (library level; one flow run at the end)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from ehrgen.pipeline.dropfolder import DropFolder, claim, ready_files, recover, settle
from ehrgen.pipeline.outcome import SampleOutcome


def _old(p: Path, age: float = 10.0) -> Path:
    t = time.time() - age
    os.utime(p, (t, t))
    return p


@pytest.fixture()
def df(tmp_path) -> DropFolder:
    return DropFolder(tmp_path / "drop").make()


def test_unfinished_files_are_not_picked_up(df, sample_data):
    _old(Path(shutil.copy(sample_data / "vcf" / "S001.vcf", df.inbox / "S001.vcf")))
    _old(Path(shutil.copy(sample_data / "vcf" / "S002.vcf", df.inbox / "S002.vcf.part")))  # still copying
    fresh = Path(shutil.copy(sample_data / "vcf" / "S003.vcf", df.inbox / "S003.vcf"))  # just written
    growing = df.inbox / "S004.vcf"
    growing.write_text("##fileformat=VCFv4.2\n")
    _old(growing)

    def sleep_and_append(_s):  # a writer still appending between the two checks
        with growing.open("a") as fh:
            fh.write("##more\n")

    names = [p.name for p in ready_files(df.inbox, settle_s=1.0, sleep=sleep_and_append)]
    assert names == ["S001.vcf"]
    assert fresh.exists()
    # a .ready marker releases a file at once
    (df.inbox / "S003.vcf.ready").touch()
    assert "S003.vcf" in [p.name for p in ready_files(df.inbox, settle_s=1.0, sleep=lambda s: None)]


def test_crash_while_claiming_loses_and_duplicates_nothing(df, sample_data):
    for n in ("S001", "S002"):
        shutil.copy(sample_data / "vcf" / f"{n}.vcf", df.inbox / f"{n}.vcf")
    shutil.copy(sample_data / "clinical" / "patients.csv", df.inbox / "patients.csv")
    files = sorted(df.inbox.iterdir())
    # simulate a crash right after the journal entry and the first move
    import ehrgen.pipeline.dropfolder as mod

    calls = {"n": 0}
    real_move = mod._move

    def crashing_move(src, dest):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("power cut")
        return real_move(src, dest)

    mod._move = crashing_move
    try:
        with pytest.raises(KeyboardInterrupt):
            claim(df, files, batch="b1")
    finally:
        mod._move = real_move
    assert df.journal()["b1"]["state"] == "claiming"
    assert recover(df) == ["b1"]
    assert sorted(p.name for p in df.batch_dir("b1").iterdir()) == ["S001.vcf", "S002.vcf"]
    assert [p.name for p in (df.clinical / "b1").iterdir()] == ["patients.csv"]
    assert not any(df.inbox.iterdir())

    # crash while settling: after the first move, before the journal update
    outcomes = [SampleOutcome("S001", vcf="S001.vcf", status="delivered"),
                SampleOutcome("S002", vcf="S002.vcf").fail("call", "bad file")]
    journal_saves = {"n": 0}
    real_save = DropFolder._save

    def crashing_save(self, j):
        journal_saves["n"] += 1
        if journal_saves["n"] == 2:  # 1: state=settling, 2: placed after the first move
            raise KeyboardInterrupt("power cut")
        return real_save(self, j)

    DropFolder._save = crashing_save
    try:
        with pytest.raises(KeyboardInterrupt):
            settle(df, "b1", outcomes)
    finally:
        DropFolder._save = real_save
    assert recover(df) == ["b1"]
    placed = settle(df, "b1", outcomes)
    assert placed == {"S002.vcf": "failed"}  # S001 was already moved before the crash
    assert sorted(p.name for p in df.processed.iterdir() if p.is_file()) == ["S001.vcf"]
    assert sorted(p.name for p in df.failed.iterdir()) == ["S002.vcf", "S002.vcf.reason.txt"]
    assert "bad file" in (df.failed / "S002.vcf.reason.txt").read_text()
    assert df.pending() == [] and not df.batch_dir("b1").exists()


def test_drop_folder_flow_sweeps_inbox(prefect_server, tmp_path, sample_data):
    from flows.drop_folder import drop_folder

    df = DropFolder(tmp_path / "drop").make()
    for name in ("S001.vcf", "S017_malformed.vcf"):
        _old(Path(shutil.copy(sample_data / "vcf" / name, df.inbox / name)))
    for f in (sample_data / "clinical").glob("*.csv"):
        _old(Path(shutil.copy(f, df.inbox / f.name)))
    (df.inbox / "S002.vcf.tmp").write_text("partial")
    work = tmp_path / "work"
    state = drop_folder(root=str(df.root), work_dir=str(work), settle_seconds=0.1, return_state=True)
    assert state.is_completed() and state.name == "Partially Failed"
    assert [p.name for p in df.inbox.iterdir()] == ["S002.vcf.tmp"]
    assert (df.processed / "S001.vcf").is_file() and (df.failed / "S017_malformed.vcf").is_file()
    assert (work / "outbox" / "P001.bundle.json").is_file()
    # a second sweep with nothing new does nothing
    state = drop_folder(root=str(df.root), work_dir=str(work), settle_seconds=0.1, return_state=True)
    assert state.is_completed() and "nothing ready" in state.message
    assert all(e["state"] == "done" for e in json.loads(df.journal_path.read_text()).values())


def test_one_sweep_at_a_time_and_stale_locks_are_taken_over(df):
    from ehrgen.errors import InputError

    with df.sweep_lock():
        with pytest.raises(InputError, match="another sweep"):
            with df.sweep_lock():
                pass
    assert not (df.root / ".sweep.lock").exists()
    (df.root / ".sweep.lock").write_text("999999999")  # a process that does not exist (crashed sweep)
    with df.sweep_lock():
        assert (df.root / ".sweep.lock").read_text() == str(os.getpid())
