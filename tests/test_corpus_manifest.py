"""The pretraining corpus record (`corpus/manifest.json`) and its builder (`scripts/build_corpus.py`).

Fast, offline, no recordings needed: the manifest is checked as data, and the builder runs on
small files each test makes itself (a git repository on disk stands in for GitHub).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "corpus" / "manifest.json"


def _load_builder() -> Any:
    spec = importlib.util.spec_from_file_location("build_corpus", ROOT / "scripts" / "build_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_corpus"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


bc = _load_builder()

# ---------------------------------------------------------------------------------------------
# shared/data/HELD_OUT.md as data, kept here independently of the builder's own copy: a
# recording matching any line must never enter the manifest, whatever its source.
# ---------------------------------------------------------------------------------------------
HELD_OUT: dict[str, dict[str, Any]] = {
    "eegmat": {"aliases": {"eegmat", "eegduringmentalarithmetictasks"}, "subjects": {0, *range(5, 15)}},
    "mitdb": {"aliases": {"mitdb", "mitbiharrhythmia", "mitbiharrhythmiadatabase"}, "records": {"100"}},
    "eegmmidb": {"aliases": {"eegmmidb", "eegmotormovementimagery", "eegbci"}, "subjects": {1}},
    "sleep-edfx": {
        "aliases": {"sleepedfx", "sleepedf", "sleepedfexpanded"},
        "prefixes": {"sc4001", "sc4002"},
    },
    "ptbdb": {"aliases": {"ptbdb", "ptb", "ptbdiagnosticecg"}, "prefixes": {"s0010re", "patient001"}},
    "challenge2015": {"aliases": {"challenge2015", "cinc2015"}, "prefixes": {"v102s"}},
    "emgdb": {"aliases": {"emgdb"}, "contains": {"healthy"}},
    "neurokit": {"aliases": {"neurokit", "neurokit2"}, "prefixes": {"bioresting5min100hz"}},
    "heartpy": {"aliases": {"heartpy"}, "records": {"data3"}},
    "mne-testing-data": {"aliases": {"mnetestingdata"}, "prefixes": {"multipleannotationchans"}},
}
# File names held out whichever dataset an entry claims.
HELD_OUT_ANYWHERE = ("bioresting5min100hz", "multipleannotationchans", "s0010re", "sc4001", "sc4002", "v102s")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _names(entry: dict[str, Any]) -> set[str]:
    paths = [entry.get("path", ""), entry.get("out", ""), entry.get("record", "")]
    paths += [f.get("path", "") for f in entry.get("extra_files", [])]
    return {Path(p).name.split(".")[0] for p in paths if p}


def held_out(entry: dict[str, Any]) -> str | None:
    """Which HELD_OUT line `entry` matches (by dataset, subject, record and file names), or None."""
    names = _names(entry)
    stems = {_norm(n) for n in names}
    if any(s.startswith(p) for s in stems for p in HELD_OUT_ANYWHERE):
        return "a held-out file name"
    ds = _norm(str(entry.get("dataset", "")))
    for key, rule in HELD_OUT.items():
        if ds not in rule["aliases"]:
            continue
        if "subjects" in rule:
            numbers = set()
            for text in [*names, str(entry.get("subject", ""))]:
                m = re.search(r"(?:subject|^s)?_?0*(\d+)", text.lower())
                if m:
                    numbers.add(int(m.group(1)))
            if numbers & rule["subjects"]:
                return f"{key} subject {sorted(numbers & rule['subjects'])}"
        if stems & {_norm(r) for r in rule.get("records", ())}:
            return f"{key} record"
        if any(s.startswith(p) for s in stems for p in rule.get("prefixes", ())):
            return f"{key} record"
        if any(c in s for s in stems for c in rule.get("contains", ())):
            return f"{key} record"
    return None


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    with open(MANIFEST, encoding="utf-8") as f:
        return json.load(f)


def _all_sha256(entry: dict[str, Any]) -> list[str]:
    shas = [entry["sha256"], *(f["sha256"] for f in entry.get("extra_files", []))]
    if entry["conversion"]:
        shas.append(entry["conversion"]["output_sha256"])
    return shas


# ---------------------------------------------------------------------------------------------
# The manifest itself
# ---------------------------------------------------------------------------------------------


def test_manifest_parses_and_every_entry_has_every_field(manifest):
    assert manifest["files"], "the manifest lists no files"
    for e in manifest["files"]:
        for key in bc.REQUIRED_FIELDS:
            assert key in e, f"{e.get('out')}: no {key}"
        assert e["kind"] in ("eeg", "ecg", "psg")
        assert e["role"] in ("pretrain", "bench-train", "bench-test")
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", e["repository"]), e["repository"]
        assert re.fullmatch(r"[0-9a-f]{40}", e["commit"]), e["out"]
        assert isinstance(e["bytes"], int) and e["bytes"] > 0
        assert e["licence"] in manifest["licences"], e["licence"]
        assert e["dataset"] in manifest["datasets"], e["dataset"]
        assert len(e["attribution"]) > 40 and e["seconds"] > 0
        if e["conversion"]:
            assert e["conversion"]["from"] == "wfdb" and e["conversion"]["to"] == "edf"
            assert e["extra_files"], "a WFDB record needs its header listed"
    assert bc.manifest_problems(manifest) == []


def test_no_entry_is_a_held_out_recording(manifest):
    hits = [(e["out"], held_out(e)) for e in manifest["files"] if held_out(e)]
    assert hits == []
    assert all(bc.held_out_reason(e["dataset"], e["record"], e["path"]) is None for e in manifest["files"])


@pytest.mark.parametrize(
    "entry",
    [
        {"dataset": "mitdb", "record": "100", "subject": "100", "path": "ecg_data/100.dat"},
        {"dataset": "MIT-BIH Arrhythmia", "record": "x", "subject": "x", "path": "data/100.hea"},
        {"dataset": "eegmat", "record": "Subject05_1", "subject": "05", "path": "data/Subject05_1.edf"},
        {"dataset": "eegmat", "record": "Subject00_2", "subject": "00", "path": "Subject00_2.edf"},
        {"dataset": "eegmat", "record": "Subject14_1", "subject": "14", "path": "x/Subject14_1.edf"},
        {"dataset": "eegmmidb", "record": "S001R04", "subject": "S001", "path": "S001/S001R04.edf"},
        {"dataset": "eegmmidb", "record": "S001R01", "subject": "S001", "path": "S001R01.edf"},
        {"dataset": "sleep-edfx", "record": "SC4001E0-PSG", "subject": "SC400", "path": "SC4001E0-PSG.edf"},
        {"dataset": "sleep-edfx", "record": "SC4002E0-PSG", "subject": "SC400", "path": "SC4002E0-PSG.edf"},
        {
            "dataset": "ptbdb",
            "record": "patient001/s0010_re",
            "subject": "patient001",
            "path": "s0010_re.dat",
        },
        {"dataset": "challenge2015", "record": "v102s", "subject": "v102s", "path": "training/v102s.mat"},
        {"dataset": "emgdb", "record": "emg_healthy", "subject": "healthy", "path": "emg_healthy.dat"},
        {"dataset": "neurokit", "record": "bio", "subject": "x", "path": "data/bio_resting_5min_100hz.csv"},
        {"dataset": "heartpy", "record": "data3", "subject": "x", "path": "data/data3.csv"},
        {
            "dataset": "mne-testing-data",
            "record": "m",
            "subject": "x",
            "path": "BDF/multiple_annotation_chans.bdf",
        },
    ],
)
def test_a_held_out_recording_is_caught(entry, manifest):
    assert held_out(entry), entry
    assert bc.held_out_reason(entry["dataset"], entry["record"], entry["path"]), entry
    # Added to the real manifest, the builder's validator refuses it too.
    template = next(e for e in manifest["files"] if e["conversion"] is None)
    bad = {**template, **entry, "out": "x/held.edf", "sha256": "f" * 64}
    problems = bc.manifest_problems({"files": [*manifest["files"], bad]})
    assert any("held out" in p or "kept out" in p for p in problems), problems


@pytest.mark.parametrize(
    "entry",
    [
        {"dataset": "mitdb", "record": "101", "subject": "101", "path": "ecg_data/101.dat"},
        {"dataset": "eegmat", "record": "Subject15_1", "subject": "15", "path": "data/Subject15_1.edf"},
        {"dataset": "eegmat", "record": "Subject04_2", "subject": "04", "path": "data/Subject04_2.edf"},
        {"dataset": "eegmmidb", "record": "S010R01", "subject": "S010", "path": "S010R01.edf"},
        {"dataset": "sleep-edfx", "record": "SC4011E0-PSG", "subject": "SC401", "path": "SC4011E0-PSG.edf"},
    ],
)
def test_other_recordings_are_not_taken_for_held_out_ones(entry):
    assert held_out(entry) is None
    assert bc.held_out_reason(entry["dataset"], entry["record"], entry["path"]) is None


def test_bench_people_are_disjoint_from_each_other_and_from_pretraining(manifest):
    people: dict[str, set[str]] = {"pretrain": set(), "bench-train": set(), "bench-test": set()}
    for e in manifest["files"]:
        people[e["role"]].add(f"{e['dataset']}:{e['subject']}")
    assert not people["bench-train"] & people["bench-test"]
    assert not (people["bench-train"] | people["bench-test"]) & people["pretrain"]
    assert len(people["bench-train"]) == 7 and len(people["bench-test"]) == 3
    bench = [e for e in manifest["files"] if e["role"] != "pretrain"]
    assert {e["dataset"] for e in bench} == {"eegmat"} and {e["kind"] for e in bench} == {"eeg"}


def test_sha256_fields_are_64_hex_digits_and_unique(manifest):
    shas = [s for e in manifest["files"] for s in _all_sha256(e)]
    assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in shas)
    assert len(shas) == len(set(shas))
    outs = [e["out"] for e in manifest["files"]]
    assert len(outs) == len(set(outs))


# ---------------------------------------------------------------------------------------------
# The builder, on files the tests make
# ---------------------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry(out: str, path: str, data: bytes, **more: Any) -> dict[str, Any]:
    e = {
        "out": out,
        "dataset": out.split("/")[0],
        "record": Path(out).stem,
        "subject": Path(out).stem,
        "kind": "ecg",
        "role": "pretrain",
        "repository": "someone/somedata",
        "commit": "0" * 40,
        "path": path,
        "sha256": _sha(data),
        "bytes": len(data),
        "licence": "ODC-By-1.0",
        "attribution": "A test dataset.",
        "conversion": None,
        "seconds": 1.0,
    }
    e.update(more)
    return e


def _encode_212(frames: np.ndarray) -> bytes:
    """Interleaved samples (n, signals) as WFDB format 212."""
    flat = (frames.astype(np.int64).ravel() & 0xFFF).tolist()
    if len(flat) % 2:
        flat.append(0)
    out = bytearray()
    for a, b in zip(flat[0::2], flat[1::2], strict=True):
        out += bytes([a & 0xFF, ((a >> 8) & 0x0F) | ((b >> 4) & 0xF0), b & 0xFF])
    n = frames.size
    return bytes(out[: 3 * (n // 2) + (2 if n % 2 else 0)])


def _wfdb_record(
    name: str, rate: int, frames: np.ndarray, gain: float = 200.0, base: int = 1024
) -> dict[str, bytes]:
    lines = [f"{name} {frames.shape[1]} {rate} {frames.shape[0]}"]
    for i, desc in enumerate(["MLII", "V1"][: frames.shape[1]]):
        x = frames[:, i]
        lines.append(f"{name}.dat 212 {gain:g} 11 {base} {int(x[0])} {int(x.sum()) & 0xFFFF} 0 {desc}")
    lines.append("# 60 M test")
    return {f"{name}.hea": ("\n".join(lines) + "\n").encode(), f"{name}.dat": _encode_212(frames)}


def _finder(*dirs: Path) -> Any:
    return bc.Finder(local_dirs=list(dirs), offline=True)


def _ecg_frames(n: int) -> np.ndarray:
    t = np.arange(n)
    return np.stack([1024 + (300 * np.sin(t / 7.0)).astype(int), 1000 + (t % 97)], axis=1)


def test_wfdb_212_record_converts_to_edf_losslessly_and_reproducibly(tmp_path):
    pyedflib = pytest.importorskip("pyedflib")
    frames = _ecg_frames(3 * 50 + 7)  # 3 whole seconds at 50 Hz and 7 samples more
    files = _wfdb_record("r1", 50, frames)
    e = _entry("ecgdb/r1.edf", "db/r1.dat", files["r1.dat"])
    e["extra_files"] = [{"path": "db/r1.hea", "sha256": _sha(files["r1.hea"]), "bytes": len(files["r1.hea"])}]
    e["conversion"] = {"from": "wfdb", "to": "edf", "label_prefix": "ECG", "recording_note": "test"}
    a, b = tmp_path / "a.edf", tmp_path / "b.edf"
    info = bc.convert_entry(e, files, a)
    bc.convert_entry(e, files, b)
    assert a.read_bytes() == b.read_bytes()  # the same bytes every time: a checkable sha256
    assert info["kept_samples"] == 150 and info["dropped_samples"] == 7
    with pyedflib.EdfReader(str(a)) as r:
        assert r.getSignalLabels() == ["ECG MLII", "ECG V1"]
        assert r.getPhysicalDimension(0) == "mV"
        for i in range(2):
            np.testing.assert_allclose(r.readSignal(i), (frames[:150, i] - 1024) / 200.0, atol=1e-9)
    assert bc.edf_shape(a) == bc.EdfShape(3.0, 2, True)


def test_wfdb_reader_refuses_a_record_whose_checksum_disagrees():
    files = _wfdb_record("r2", 10, _ecg_frames(20))
    header = bc.parse_wfdb_header(files["r2.hea"].decode())
    damaged = bytearray(files["r2.dat"])
    damaged[10] ^= 0x01
    with pytest.raises(bc.Refusal, match="checksum"):
        bc.read_wfdb(header, {"r2.dat": bytes(damaged)})


def _two_file_manifest(src: Path) -> dict[str, Any]:
    src.mkdir(parents=True, exist_ok=True)
    (src / "a.csv").write_bytes(b"time_s,II_mV\n0,0.1\n")
    (src / "sub").mkdir(exist_ok=True)
    (src / "sub" / "b.csv").write_bytes(b"time_s,II_mV\n0,0.2\n")
    return {
        "files": [
            _entry("ds/a.csv", "data/a.csv", (src / "a.csv").read_bytes()),
            _entry("ds/b.csv", "data/b.csv", (src / "sub" / "b.csv").read_bytes()),
        ]
    }


def test_build_copies_verified_files_and_reports_them(tmp_path):
    man = _two_file_manifest(tmp_path / "src")
    out = tmp_path / "corpus"
    summary = bc.build(man, out, _finder(tmp_path / "src"))
    assert (out / "ds" / "a.csv").read_bytes() == (tmp_path / "src" / "a.csv").read_bytes()
    assert summary["files"] == 2 and summary["by_kind"]["ecg"]["people"] == 2
    assert (out / bc.MARKER).is_file()
    assert len((out / "SHA256SUMS").read_text().splitlines()) == 2
    assert bc.check(man, out, _finder())["ok"]  # the built folder checks without any source
    assert not list(tmp_path.glob(".corpus.*"))


def test_build_refuses_a_sha256_mismatch_and_leaves_the_previous_build_whole(tmp_path):
    man = _two_file_manifest(tmp_path / "src")
    out = tmp_path / "corpus"
    bc.build(man, out, _finder(tmp_path / "src"))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (tmp_path / "src" / "sub" / "b.csv").write_bytes(b"time_s,II_mV\n0,9.9\n")  # a changed source
    man["files"][1]["sha256"] = _sha(b"something else")
    shutil.rmtree(out / "ds")  # so the earlier build cannot serve b.csv either
    (out / "ds").mkdir()
    (out / "ds" / "a.csv").write_bytes(before[Path("ds/a.csv")])
    with pytest.raises(bc.Refusal, match=r"b\.csv.*sha256 mismatch") as err:
        bc.build(man, out, _finder(tmp_path / "src"))
    assert "\n" not in str(err.value)
    assert (out / "ds" / "a.csv").is_file() and not (out / "ds" / "b.csv").exists()
    assert not list(tmp_path.glob(".corpus.*"))  # the half-built folder is gone


def test_a_failed_build_keeps_the_old_folder_untouched(tmp_path):
    man = _two_file_manifest(tmp_path / "src")
    out = tmp_path / "corpus"
    bc.build(man, out, _finder(tmp_path / "src"))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    extra = _entry("ds/c.csv", "data/c.csv", b"never anywhere")
    with pytest.raises(bc.Refusal, match=r"c\.csv not found"):
        bc.build({"files": [*man["files"], extra]}, out, _finder(tmp_path / "src"))
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_build_refuses_to_replace_an_unrelated_folder(tmp_path):
    man = _two_file_manifest(tmp_path / "src")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(bc.Refusal, match="refusing to replace"):
        bc.build(man, out, _finder(tmp_path / "src"))
    assert (out / "thesis.tex").read_text() == "precious"


def test_build_refuses_a_manifest_with_a_held_out_recording(tmp_path):
    man = _two_file_manifest(tmp_path / "src")
    man["files"][0].update(dataset="mitdb", record="100", subject="100", path="mitdb/100.dat")
    with pytest.raises(bc.Refusal, match="held out"):
        bc.build(man, tmp_path / "corpus", _finder(tmp_path / "src"))
    assert not (tmp_path / "corpus").exists()


def test_check_verifies_sources_and_writes_nothing(tmp_path):
    man = _two_file_manifest(tmp_path / "src")
    out = tmp_path / "corpus"
    assert bc.check(man, out, _finder(tmp_path / "src"))["ok"]
    assert not out.exists()
    man["files"][0]["sha256"] = _sha(b"other")
    result = bc.check(man, None, _finder(tmp_path / "src"))
    assert not result["ok"] and "sha256 mismatch" in result["problems"][0]


def test_the_command_line_refuses_with_one_line_and_exit_2(tmp_path, capsys):
    man = _two_file_manifest(tmp_path / "src")
    man["files"][0]["sha256"] = _sha(b"other")
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(man))
    argv = [
        "--manifest",
        str(path),
        "--out",
        str(tmp_path / "c"),
        "--from",
        str(tmp_path / "src"),
        "--offline",
    ]
    assert bc.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sha256 mismatch" in err
    assert not (tmp_path / "c").exists()


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_sources_come_from_a_blobless_clone_at_the_commit_and_wfdb_is_converted(tmp_path):
    pytest.importorskip("pyedflib")
    work = tmp_path / "work"
    (work / "db").mkdir(parents=True)
    files = _wfdb_record("r3", 20, _ecg_frames(45))
    for name, data in files.items():
        (work / "db" / name).write_bytes(data)
    _git("init", "-q", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "data", cwd=work)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True
    ).stdout.strip()
    remote = tmp_path / "remote" / "someone" / "somedata.git"
    remote.parent.mkdir(parents=True)
    _git("clone", "-q", "--bare", str(work), str(remote), cwd=tmp_path)
    _git("config", "uploadpack.allowFilter", "true", cwd=remote)
    _git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=remote)

    e = _entry("ecgdb/r3.edf", "db/r3.dat", files["r3.dat"], commit=commit)
    e["extra_files"] = [{"path": "db/r3.hea", "sha256": _sha(files["r3.hea"]), "bytes": len(files["r3.hea"])}]
    e["conversion"] = {"from": "wfdb", "to": "edf", "label_prefix": "ECG", "recording_note": "test"}
    reference = tmp_path / "ref.edf"
    bc.convert_entry(e, files, reference)
    e["conversion"]["output_sha256"] = _sha(reference.read_bytes())

    finder = bc.Finder(
        offline=False,
        cache=tmp_path / "cache",
        remote_template=f"file://{tmp_path / 'remote'}/{{repo}}.git",
    )
    summary = bc.build({"files": [e]}, tmp_path / "corpus", finder)
    assert (tmp_path / "corpus" / "ecgdb" / "r3.edf").read_bytes() == reference.read_bytes()
    assert summary["converted"] == 1 and summary["sources"] == {"network": 2}
    assert summary["hours"] == pytest.approx(2.0 / 3600, abs=1e-3)

    # A source that changed upstream is refused, naming the file.
    e["sha256"] = _sha(b"not this")
    shutil.rmtree(tmp_path / "corpus")
    with pytest.raises(bc.Refusal, match=r"r3\.dat: sha256 mismatch"):
        bc.build({"files": [e]}, tmp_path / "corpus", finder)
