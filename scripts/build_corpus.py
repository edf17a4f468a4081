"""Rebuild the pretraining corpus folder from `corpus/manifest.json`, byte for byte.

    python scripts/build_corpus.py --out DIR [--from DIR ...] [--mirrors DIR] [--offline]
                                   [--cache DIR] [--manifest PATH] [--remote-template URL]
                                   [--allow-new-conversions]
    python scripts/build_corpus.py --check [--out DIR] [--from DIR ...] [--mirrors DIR] [--offline]

The manifest names every recording by its public repository, commit, path and sha256 (see
`corpus/README.md`). For each entry this script finds the source file(s), verifies the sha256
(a mismatch is refused with one line naming the file), converts WFDB records (.hea + .dat) to
EDF+ where the entry says so, and writes `<out>/<dataset>/<name>`. Where each file comes from,
first match wins:

1. `--from DIR` (repeatable): any file under DIR with the same name and the right sha256, e.g.
   `--from /work/shared/data --from /work/corpus_data`. The previous build in `--out` is searched
   too, so a rebuild only fetches what changed.
2. `--mirrors DIR`: bare git snapshots laid out as `DIR/<owner>+<name>/repo[/.git]` (what the
   team's `fetch` tool leaves under /work/.mirror); the blob is read at the manifest's commit.
3. The network, unless `--offline`: `git clone --bare --filter=blob:none` of
   `https://github.com/<owner>/<name>.git` into `--cache` (default ~/.cache/vqstudio-corpus),
   then `git fetch` of the manifest's commit if the clone lacks it; `git cat-file` then fetches
   only the blobs named. This needs `git` >= 2.27 and internet access (a developer's machine).

The output is written into a temporary folder beside `--out` and renamed into place only when
every file is there and verified, so `--out` is either the previous build or the new one, never
half of each. An existing `--out` is replaced only if it holds a `CORPUS.json` from an earlier
build (never an unrelated folder). The result is summarised as one JSON object on stdout: files,
bytes, hours of signal and people per kind and per role, and how many files were converted.

`--check` writes nothing: it verifies that every source can be found with the right sha256 and,
when `--out` exists, that every built file there has the sha256 the manifest expects.

Exit codes: 0 done, 2 a refusal (bad manifest, held-out recording, missing source, sha256
mismatch, unsafe output folder), each with one line on stderr.

Nothing here imports vqstudio: numpy and pyedflib (both dependencies of the app) suffice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = REPO_ROOT / "corpus" / "manifest.json"
DEFAULT_REMOTE = "https://github.com/{repo}.git"
MARKER = "CORPUS.json"

KINDS = ("eeg", "ecg", "psg")
ROLES = ("pretrain", "bench-train", "bench-test")
REQUIRED_FIELDS = (
    "out",
    "dataset",
    "record",
    "subject",
    "kind",
    "role",
    "repository",
    "commit",
    "path",
    "sha256",
    "bytes",
    "licence",
    "attribution",
    "conversion",
    "seconds",
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_OUT = re.compile(r"^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+\.(edf|bdf|csv)$")

# The start of every converted EDF+: WFDB records of these databases carry no real date.
CONVERTED_START = datetime(1985, 1, 1, 0, 0, 0)


class Refusal(Exception):
    """A one-line reason why the corpus cannot be built or checked as asked."""


# --------------------------------------------------------------------------------------------
# Recordings that nothing of ours may use (shared/data/HELD_OUT.md), as data. The test suite
# keeps its own copy of this list and checks the manifest against it; this copy makes the
# builder refuse such an entry even if someone edits the manifest by hand.
# --------------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def held_out_reason(dataset: str, record: str, path: str = "") -> str | None:
    """Why (dataset, record, path) is a held-out recording, or None when it is not one.

    Names are compared loosely (case, separators and file extensions ignored), and the file
    name in `path` is checked as well as `record`, so 'mitdb'/'100', 'MIT-BIH Arrhythmia'/'100.dat'
    and a path ending in '100.hea' under a mitdb entry are all caught.
    """
    ds = _norm(dataset)
    names = {Path(record).name, Path(path).name} - {""}
    stems = {_norm(n.split(".")[0]) for n in names}
    if ds in {"eegmat", "eegduringmentalarithmetictasks", "mentalarithmetic"}:
        for n in names:
            m = re.search(r"subject[_-]?0*(\d+)", n.lower()) or re.fullmatch(r"0*(\d+)(?:_\d)?", n)
            if m and (int(m.group(1)) == 0 or 5 <= int(m.group(1)) <= 14):
                return f"eegmat subject {int(m.group(1)):02d} is held out (subjects 00 and 05-14)"
    if ds in {"mitdb", "mitbiharrhythmia", "mitbiharrhythmiadatabase", "mitbih"} and stems & {"100", "x100"}:
        return "MIT-BIH Arrhythmia record 100 is held out"
    if ds in {"eegmmidb", "eegmotormovementimagery", "eegbci", "physionetmi"}:
        for s in stems:
            if re.match(r"s0*1(r\d+)?$", s):
                return "eegmmidb subject S001 is kept out entirely (S001 R01 is held out)"
    if ds in {"sleepedfx", "sleepedf", "sleepedfexpanded", "sleepcassette"}:
        for s in stems:
            if re.match(r"sc400[12]", s):
                return "Sleep-EDF SC4001/SC4002 (subject 0) is held out"
    if ds in {"ptbdb", "ptb", "ptbdiagnostic", "ptbdiagnosticecg"} and any(
        s.startswith("s0010re") or s.startswith("patient001") for s in stems | {_norm(record)}
    ):
        return "PTB s0010_re (patient001) is held out"
    if ds in {"challenge2015", "cinc2015", "physionetchallenge2015"} and any(
        s.startswith("v102s") for s in stems
    ):
        return "Challenge 2015 record v102s is held out"
    if ds == "emgdb" and any("healthy" in s for s in stems | {_norm(record)}):
        return "emgdb's healthy-subject record is held out"
    if any(s.startswith("bioresting5min100hz") for s in stems):
        return "NeuroKit's bio_resting_5min_100hz.csv is held out"
    if ds in {"heartpy", "heartrateanalysis"} and "data3" in stems:
        return "HeartPy's data3.csv is held out"
    if any(s.startswith("multipleannotationchans") for s in stems):
        return "mne-testing-data multiple_annotation_chans.bdf is held out"
    return None


# --------------------------------------------------------------------------------------------
# The manifest
# --------------------------------------------------------------------------------------------


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest as parsed JSON; a Refusal when it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise Refusal(f"{path}: cannot read the manifest ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise Refusal(f"{path}: not a corpus manifest (no 'files' list)")
    return data


def entry_files(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Every source file an entry needs: {path, sha256, bytes}, the main one first."""
    main = {"path": entry["path"], "sha256": entry["sha256"], "bytes": entry["bytes"]}
    return [main, *entry.get("extra_files", [])]


def expected_output_sha256(entry: dict[str, Any]) -> str:
    """The sha256 the built file must have: the source's, or the conversion's output."""
    conv = entry.get("conversion")
    return conv["output_sha256"] if conv else entry["sha256"]


def person(entry: dict[str, Any]) -> str:
    """The person a recording is of, unique across datasets: 'dataset:subject'."""
    return f"{entry['dataset']}:{entry['subject']}"


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """Everything wrong with a manifest, one line each (empty when it is sound)."""
    problems: list[str] = []
    seen_out: set[str] = set()
    seen_sha: dict[str, str] = {}
    roles_of: dict[str, set[str]] = defaultdict(set)
    for i, e in enumerate(manifest.get("files", [])):
        where = f"entry {i} ({e.get('out', '?') if isinstance(e, dict) else '?'})"
        if not isinstance(e, dict):
            problems.append(f"{where}: not an object")
            continue
        missing = [k for k in REQUIRED_FIELDS if k not in e]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if not _OUT.match(str(e["out"])):
            problems.append(f"{where}: 'out' must be '<dataset>/<file>.edf|bdf|csv'")
        if e["out"] in seen_out:
            problems.append(f"{where}: 'out' repeats an earlier entry")
        seen_out.add(e["out"])
        if e["kind"] not in KINDS:
            problems.append(f"{where}: kind {e['kind']!r} is not one of {', '.join(KINDS)}")
        if e["role"] not in ROLES:
            problems.append(f"{where}: role {e['role']!r} is not one of {', '.join(ROLES)}")
        if not _REPO.match(str(e["repository"])):
            problems.append(f"{where}: repository must be 'owner/name'")
        if not _COMMIT.match(str(e["commit"])):
            problems.append(f"{where}: commit must be 40 hex digits")
        for alt in e.get("also_at", []):
            if not (
                _REPO.match(str(alt.get("repository", ""))) and _COMMIT.match(str(alt.get("commit", "")))
            ):
                problems.append(f"{where}: an 'also_at' copy needs repository and a 40-digit commit")
        if not (isinstance(e["seconds"], (int, float)) and e["seconds"] > 0):
            problems.append(f"{where}: seconds must be a positive number")
        if not str(e["licence"]).strip() or not str(e["attribution"]).strip():
            problems.append(f"{where}: licence and attribution must not be empty")
        shas = [(f["path"], f.get("sha256", "")) for f in entry_files(e)]
        conv = e["conversion"]
        if conv is not None:
            if not isinstance(conv, dict) or conv.get("from") != "wfdb" or conv.get("to") != "edf":
                problems.append(f"{where}: the only conversion known is {{'from': 'wfdb', 'to': 'edf'}}")
            else:
                shas.append((e["out"], conv.get("output_sha256", "")))
                if not e.get("extra_files"):
                    problems.append(f"{where}: a WFDB conversion needs the header in 'extra_files'")
        for f in entry_files(e):
            if not (isinstance(f.get("bytes"), int) and f["bytes"] > 0):
                problems.append(f"{where}: {f.get('path')}: bytes must be a positive integer")
        for name, sha in shas:
            if not _SHA256.match(str(sha)):
                problems.append(f"{where}: {name}: sha256 must be 64 lower-case hex digits")
            elif sha in seen_sha:
                problems.append(f"{where}: {name}: sha256 repeats {seen_sha[sha]}")
            else:
                seen_sha[sha] = name
        for f in entry_files(e):
            reason = held_out_reason(str(e["dataset"]), str(e["record"]), f["path"])
            if reason:
                problems.append(f"{where}: {reason}")
        roles_of[person(e)].add(e["role"])
    for who, roles in sorted(roles_of.items()):
        if len(roles) > 1:
            problems.append(f"person {who} has recordings in more than one role ({', '.join(sorted(roles))})")
    return problems


# --------------------------------------------------------------------------------------------
# Finding source files: local folders, git mirrors, the network
# --------------------------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    """The sha256 of `data` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            h.update(piece)
    return h.hexdigest()


def _git(
    args: Sequence[str], *, gitdir: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    cmd = ["git", *([f"--git-dir={gitdir}"] if gitdir else []), *args]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(cmd, capture_output=True, check=check, env=env)


@dataclass
class Finder:
    """Finds a source file's bytes by sha256 in local folders, git mirrors, or over the network."""

    local_dirs: list[Path] = field(default_factory=list)
    mirrors: Path | None = None
    offline: bool = True
    cache: Path | None = None
    remote_template: str = DEFAULT_REMOTE
    _by_name: dict[str, list[Path]] | None = None
    _hashes: dict[Path, str] = field(default_factory=dict)
    _clones: dict[str, Path] = field(default_factory=dict)

    def _index(self) -> dict[str, list[Path]]:
        if self._by_name is None:
            self._by_name = defaultdict(list)
            for root in self.local_dirs:
                if not root.is_dir():
                    continue
                for dirpath, dirnames, filenames in os.walk(root):
                    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                    for name in filenames:
                        self._by_name[name].append(Path(dirpath) / name)
        return self._by_name

    def local(self, name: str, sha256: str) -> tuple[Path | None, list[str]]:
        """A local file called `name` with this sha256, and the sha256s of same-named others."""
        others = []
        for p in self._index().get(name, []):
            if p not in self._hashes:
                self._hashes[p] = sha256_file(p)
            if self._hashes[p] == sha256:
                return p, others
            others.append(f"{p} has sha256 {self._hashes[p][:12]}...")
        return None, others

    def _mirror_gitdir(self, repo: str) -> Path | None:
        if self.mirrors is None:
            return None
        base = self.mirrors / repo.replace("/", "+")
        for cand in (base / "repo" / ".git", base / "repo", base.with_name(base.name + ".git"), base):
            if (cand / "HEAD").is_file() and (cand / "objects").is_dir():
                return cand
        return None

    def _clone(self, repo: str, commit: str) -> Path:
        if self.cache is None:
            raise Refusal("no --cache folder for network clones")
        gitdir = self._clones.get(repo) or self.cache / (repo.replace("/", "+") + ".git")
        url = self.remote_template.format(repo=repo)
        if not (gitdir / "HEAD").is_file():
            gitdir.parent.mkdir(parents=True, exist_ok=True)
            r = _git(["clone", "--quiet", "--bare", "--filter=blob:none", url, str(gitdir)], check=False)
            if r.returncode != 0:
                shutil.rmtree(gitdir, ignore_errors=True)
                raise Refusal(f"git clone {url} failed: {_last_line(r.stderr)}")
        if _git(["cat-file", "-e", f"{commit}^{{commit}}"], gitdir=gitdir, check=False).returncode != 0:
            r = _git(["fetch", "--quiet", "--filter=blob:none", "origin", commit], gitdir=gitdir, check=False)
            if r.returncode != 0:
                raise Refusal(f"{repo}: cannot fetch commit {commit}: {_last_line(r.stderr)}")
        self._clones[repo] = gitdir
        return gitdir

    def from_git(self, repo: str, commit: str, path: str) -> tuple[bytes | None, str]:
        """The blob at repo@commit:path from a mirror or (unless offline) a clone, and where."""
        gitdir = self._mirror_gitdir(repo)
        if gitdir is not None:
            r = _git(["cat-file", "blob", f"{commit}:{path}"], gitdir=gitdir, check=False)
            if r.returncode == 0:
                return r.stdout, f"mirror {gitdir}"
        if self.offline:
            return None, ""
        gitdir = self._clone(repo, commit)
        r = _git(["cat-file", "blob", f"{commit}:{path}"], gitdir=gitdir, check=False)
        if r.returncode != 0:
            raise Refusal(f"{repo}@{commit[:12]}: no file {path} ({_last_line(r.stderr)})")
        return r.stdout, f"{self.remote_template.format(repo=repo)}"


def _last_line(stderr: bytes) -> str:
    lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "no message"


def fetch_source(finder: Finder, entry: dict[str, Any], spec: dict[str, Any]) -> tuple[bytes, str]:
    """The verified bytes of one source file of `entry`, and where they came from."""
    name = Path(spec["path"]).name
    path, others = finder.local(name, spec["sha256"])
    if path is not None:
        data = path.read_bytes()
        if sha256_bytes(data) == spec["sha256"]:
            return data, str(path)
    # The manifest's copy first, then any independent copy that holds this very file.
    copies = [(entry["repository"], entry["commit"], spec["path"])]
    for alt in entry.get("also_at", []):
        if name in alt.get("paths", {}):
            copies.append((alt["repository"], alt["commit"], alt["paths"][name]))
    tried = list(others)
    for i, (repo, commit, repo_path) in enumerate(copies):
        try:
            data, where = finder.from_git(repo, commit, repo_path)
        except Refusal as r:
            if i == len(copies) - 1 and not tried:
                raise
            tried.append(str(r))
            continue
        if data is None:
            continue
        got = sha256_bytes(data)
        if got == spec["sha256"]:
            return data, where
        tried.append(f"{repo}@{commit[:12]}:{repo_path} has sha256 {got[:12]}...")
    if tried:
        raise Refusal(
            f"{entry['out']}: {name}: sha256 mismatch, manifest says {spec['sha256'][:12]}... but "
            + "; ".join(tried)
        )
    how = "--from folders, --mirrors" + ("" if finder.offline else ", the network")
    raise Refusal(
        f"{entry['out']}: {name} not found ({how} searched; {entry['repository']}@{entry['commit'][:12]})"
    )


# --------------------------------------------------------------------------------------------
# WFDB (format 212 and 16) to EDF+
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WfdbSignal:
    """One signal line of a WFDB header."""

    file: str
    fmt: int
    offset: int
    gain: float
    baseline: int
    units: str
    adc_res: int
    initial: int | None
    checksum: int | None
    description: str


@dataclass(frozen=True)
class WfdbHeader:
    """A single-segment WFDB header: record line, signals, comment lines."""

    record: str
    rate: float
    n_samples: int
    signals: tuple[WfdbSignal, ...]
    comments: tuple[str, ...]


def parse_wfdb_header(text: str) -> WfdbHeader:
    """Parse a single-segment WFDB header (formats 212 and 16); a Refusal for anything else."""
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n")]
    comments = tuple(ln.lstrip("#").strip() for ln in lines if ln.startswith("#"))
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if not body:
        raise Refusal("WFDB header is empty")
    head = body[0].split()
    if "/" in head[0] or len(head) < 4:
        raise Refusal(f"WFDB header line {body[0]!r}: only single-segment records with a length are read")
    record, nsig = head[0], int(head[1])
    rate = float(head[2].split("/")[0].split("(")[0])
    n_samples = int(head[3])
    signals = []
    for line in body[1 : 1 + nsig]:
        f = line.split(maxsplit=8)
        m = re.fullmatch(r"(\d+)(?:x\d+)?(?::\d+)?(?:\+(\d+))?", f[1])
        if not m or int(m.group(1)) not in (16, 212):
            raise Refusal(f"WFDB signal format {f[1]!r} is not read here (16 and 212 are)")
        g = re.fullmatch(r"([-+0-9.eE]+)(?:\((-?\d+)\))?(?:/(\S+))?", f[2]) if len(f) > 2 else None
        gain = float(g.group(1)) if g else 200.0
        gain = gain or 200.0  # WFDB: a gain of 0 means 'uncalibrated', read as 200
        adc_res = int(f[3]) if len(f) > 3 else 12
        adc_zero = int(f[4]) if len(f) > 4 else 0
        baseline = int(g.group(2)) if g and g.group(2) else adc_zero
        signals.append(
            WfdbSignal(
                file=f[0],
                fmt=int(m.group(1)),
                offset=int(m.group(2) or 0),
                gain=gain,
                baseline=baseline,
                units=(g.group(3) if g and g.group(3) else "mV"),
                adc_res=adc_res,
                initial=int(f[5]) if len(f) > 5 else None,
                checksum=int(f[6]) if len(f) > 6 else None,
                description=f[8].strip() if len(f) > 8 else f"signal {len(signals)}",
            )
        )
    if len(signals) != nsig:
        raise Refusal(f"WFDB header of {record} declares {nsig} signals but describes {len(signals)}")
    return WfdbHeader(record, rate, n_samples, tuple(signals), comments)


def _decode(data: bytes, fmt: int, n_values: int) -> np.ndarray:
    """`n_values` interleaved samples of format 212 or 16, as int32."""
    if fmt == 16:
        if len(data) < 2 * n_values:
            raise Refusal(f"signal file holds {len(data) // 2} samples, header says {n_values}")
        return np.frombuffer(data, dtype="<i2", count=n_values).astype(np.int32)
    n_groups = (n_values + 1) // 2
    raw = np.frombuffer(data, dtype=np.uint8)
    need = 3 * (n_values // 2) + (2 if n_values % 2 else 0)
    if raw.size < need:
        raise Refusal(f"signal file holds {raw.size} bytes, header needs {need}")
    raw = np.concatenate([raw[:need], np.zeros(3 * n_groups - need, np.uint8)]).reshape(n_groups, 3)
    b0, b1, b2 = (raw[:, i].astype(np.int32) for i in range(3))
    out = np.empty(2 * n_groups, np.int32)
    out[0::2] = b0 | ((b1 & 0x0F) << 8)
    out[1::2] = b2 | ((b1 & 0xF0) << 4)
    out[out > 2047] -= 4096
    return out[:n_values]


def read_wfdb(header: WfdbHeader, files: dict[str, bytes]) -> list[np.ndarray]:
    """Each signal's digital samples (int32), checked against the header's first value and
    checksum; a Refusal when either disagrees (a wrong decoder or a damaged file)."""
    by_file: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(header.signals):
        by_file[s.file].append(i)
    out: list[np.ndarray] = [np.empty(0, np.int32)] * len(header.signals)
    for name, idx in by_file.items():
        if name not in files:
            raise Refusal(f"WFDB record {header.record}: no signal file {name}")
        sig0 = header.signals[idx[0]]
        if any(header.signals[i].fmt != sig0.fmt for i in idx):
            raise Refusal(f"WFDB record {header.record}: mixed formats in {name}")
        flat = _decode(files[name][sig0.offset :], sig0.fmt, header.n_samples * len(idx))
        frames = flat.reshape(header.n_samples, len(idx))
        for col, i in enumerate(idx):
            out[i] = np.ascontiguousarray(frames[:, col])
    for s, x in zip(header.signals, out, strict=True):
        if s.initial is not None and x.size and int(x[0]) != s.initial:
            raise Refusal(
                f"WFDB record {header.record} {s.description}: first sample {x[0]} != header {s.initial}"
            )
        if s.checksum is not None:
            total = int(x.astype(np.int64).sum()) & 0xFFFF
            want = s.checksum & 0xFFFF
            if total != want:
                raise Refusal(
                    f"WFDB record {header.record} {s.description}: checksum {total} != header {want}"
                )
    return out


def _edf_number(value: float) -> str:
    """`value` as the EDF header writes it (8 characters at most), exactly; a Refusal if it
    cannot be written without rounding (the scale of every sample would change)."""
    text = repr(float(value))
    text = text[:-2] if text.endswith(".0") else text
    if len(text) > 8 or float(text) != value:
        raise Refusal(f"physical limit {value!r} does not fit an EDF header's 8 characters exactly")
    return text


def wfdb_to_edf(
    header: WfdbHeader,
    signals: list[np.ndarray],
    path: Path,
    *,
    label_prefix: str,
    note: str,
    prefilter: str = "",
) -> dict[str, Any]:
    """Write WFDB signals as EDF+ with 1-s data records, in physical units with the same
    digital values (lossless): EDF digital range = the format's, physical = (d - baseline)/gain.
    Samples past the last whole second are dropped (reported). Returns what was done."""
    import pyedflib  # a dependency of the app; imported here so `--help` stays fast

    rate = header.rate
    if rate != int(rate):
        raise Refusal(f"WFDB record {header.record}: rate {rate} Hz is not whole; 1-s EDF records need one")
    rate_i = int(rate)
    keep = (header.n_samples // rate_i) * rate_i
    if keep == 0:
        raise Refusal(f"WFDB record {header.record}: shorter than one second")
    headers = []
    for s in header.signals:
        lo, hi = (-2048, 2047) if s.fmt == 212 else (-32768, 32767)
        headers.append(
            {
                "label": f"{label_prefix} {s.description}".strip()[:16],
                "dimension": s.units[:8],
                "sample_frequency": rate_i,
                "physical_min": float(_edf_number((lo - s.baseline) / s.gain)),
                "physical_max": float(_edf_number((hi - s.baseline) / s.gain)),
                "digital_min": lo,
                "digital_max": hi,
                "transducer": "",
                "prefilter": prefilter[:80],
            }
        )
    writer = pyedflib.EdfWriter(str(path), len(headers), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders(headers)
        writer.setStartdatetime(CONVERTED_START)
        writer.setPatientCode(re.sub(r"[^A-Za-z0-9_.+-]", "_", header.record))
        writer.setRecordingAdditional(re.sub(r"[^A-Za-z0-9_.+-]", "_", note)[:40])
        writer.writeSamples([np.ascontiguousarray(x[:keep], dtype=np.int32) for x in signals], digital=True)
    finally:
        writer.close()
    invalid = sum(
        int(np.count_nonzero(x[:keep] == (-2048 if s.fmt == 212 else -32768)))
        for s, x in zip(header.signals, signals, strict=True)
    )
    return {
        "labels": [h["label"] for h in headers],
        "rate_hz": rate_i,
        "kept_samples": keep,
        "dropped_samples": header.n_samples - keep,
        "invalid_samples": invalid,
    }


def convert_entry(entry: dict[str, Any], sources: dict[str, bytes], path: Path) -> dict[str, Any]:
    """Make the EDF+ of a WFDB entry at `path` from its verified source bytes."""
    conv = entry["conversion"]
    hea_names = [n for n in sources if n.endswith(".hea")]
    if len(hea_names) != 1:
        raise Refusal(f"{entry['out']}: a WFDB conversion needs exactly one .hea among its files")
    header = parse_wfdb_header(sources[hea_names[0]].decode("latin-1"))
    signals = read_wfdb(header, sources)
    return wfdb_to_edf(
        header,
        signals,
        path,
        label_prefix=conv.get("label_prefix", ""),
        note=conv.get("recording_note", f"{entry['dataset']} {entry['record']} from WFDB"),
        prefilter=conv.get("prefilter", ""),
    )


# --------------------------------------------------------------------------------------------
# EDF headers (durations, sanity)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdfShape:
    """What an EDF/BDF header says about a file's size and length."""

    seconds: float
    signals: int
    consistent: bool  # the file size equals header + records x record bytes


def edf_shape(path: Path) -> EdfShape:
    """Read an EDF/EDF+/BDF header; `consistent` checks the file size against it."""
    with open(path, "rb") as f:
        fixed = f.read(256)
        ns = int(fixed[252:256].decode("ascii").strip())
        rest = f.read(256 * ns)
    bdf = fixed[0:1] == b"\xff"
    n_records = int(fixed[236:244].decode("ascii").strip())
    duration = float(fixed[244:252].decode("ascii").strip())
    spr = [int(rest[216 * ns + 8 * i : 216 * ns + 8 * i + 8].decode("ascii").strip()) for i in range(ns)]
    labels = [rest[16 * i : 16 * i + 16].decode("latin-1").strip() for i in range(ns)]
    size = 256 * (ns + 1) + n_records * sum(spr) * (3 if bdf else 2)
    n_signal = sum(1 for lb in labels if lb not in ("EDF Annotations", "BDF Annotations"))
    return EdfShape(n_records * duration, n_signal, size == path.stat().st_size)


def seconds_of(path: Path) -> float:
    """Seconds of signal in a built file (EDF/BDF from its header; other kinds: 0)."""
    return edf_shape(path).seconds if path.suffix.lower() in (".edf", ".bdf") else 0.0


# --------------------------------------------------------------------------------------------
# Building and checking
# --------------------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; follow the umask like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summarise(entries: Iterable[dict[str, Any]], seconds: dict[str, float]) -> dict[str, Any]:
    """Files, bytes-free figures: hours and people per kind, per role and per dataset."""
    entries = list(entries)

    def block(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "files": len(items),
            "hours": round(sum(seconds[e["out"]] for e in items) / 3600.0, 3),
            "people": len({person(e) for e in items}),
        }

    out: dict[str, Any] = {"files": len(entries), **{k: v for k, v in block(entries).items() if k != "files"}}
    out["by_kind"] = {k: block([e for e in entries if e["kind"] == k]) for k in KINDS}
    out["by_role"] = {r: block([e for e in entries if e["role"] == r]) for r in ROLES}
    datasets = sorted({e["dataset"] for e in entries})
    out["by_dataset"] = {d: block([e for e in entries if e["dataset"] == d]) for d in datasets}
    out["converted"] = sum(1 for e in entries if e["conversion"])
    return out


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise Refusal(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise Refusal(f"{out} is a non-empty folder without {MARKER}: refusing to replace it")


def _swap_into_place(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build(
    manifest: dict[str, Any],
    out: Path,
    finder: Finder,
    *,
    allow_new_conversions: bool = False,
    log: Any = None,
) -> dict[str, Any]:
    """Build the corpus into `out` (atomically) and return the summary."""
    problems = manifest_problems(manifest)
    if problems:
        raise Refusal(
            f"manifest: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    out = out.resolve()
    _prepare_out(out)
    if out.is_dir():
        finder.local_dirs.append(out)
        finder._by_name = None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the corpus folder follows the umask
    seconds: dict[str, float] = {}
    sums: list[str] = []
    changed: list[str] = []
    origins: dict[str, int] = defaultdict(int)
    try:
        for e in manifest["files"]:
            target = tmp / e["out"]
            target.parent.mkdir(parents=True, exist_ok=True)
            want = expected_output_sha256(e)
            ready, _ = finder.local(Path(e["out"]).name, want) if e["conversion"] else (None, [])
            if ready is not None:  # a converted file from an earlier build, unchanged
                shutil.copyfile(ready, target)
                origins["earlier build"] += 1
            elif e["conversion"] is None:
                data, where = fetch_source(finder, e, entry_files(e)[0])
                _write_atomic(target, data)
                origins[_origin_kind(where)] += 1
            else:
                sources = {}
                for spec in entry_files(e):
                    data, where = fetch_source(finder, e, spec)
                    sources[Path(spec["path"]).name] = data
                    origins[_origin_kind(where)] += 1
                part = target.with_name(f".{target.name}.part")
                convert_entry(e, sources, part)
                got = sha256_file(part)
                if got != want:
                    if not allow_new_conversions:
                        part.unlink(missing_ok=True)
                        raise Refusal(
                            f"{e['out']}: the conversion gave sha256 {got[:12]}..., the manifest says "
                            f"{want[:12]}... (another pyedflib? --allow-new-conversions takes it)"
                        )
                    changed.append(e["out"])
                os.replace(part, target)
            shape = edf_shape(target) if target.suffix.lower() in (".edf", ".bdf") else None
            if shape is not None and not shape.consistent:
                raise Refusal(f"{e['out']}: the file size does not match its EDF header")
            seconds[e["out"]] = shape.seconds if shape else float(e["seconds"])
            sums.append(f"{sha256_file(target)}  {e['out']}")
            if log:
                log(f"{e['out']}\n")
        summary = summarise(manifest["files"], seconds)
        summary["bytes"] = sum((tmp / e["out"]).stat().st_size for e in manifest["files"])
        summary["sources"] = dict(origins)
        if changed:
            summary["conversions_differing_from_manifest"] = changed
        _write_atomic(tmp / "SHA256SUMS", ("\n".join(sums) + "\n").encode())
        marker = {"manifest_sha256": sha256_file_or_bytes(manifest), "summary": summary}
        _write_atomic(tmp / MARKER, (json.dumps(marker, indent=1) + "\n").encode())
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary["out"] = str(out)
    return summary


def sha256_file_or_bytes(manifest: dict[str, Any]) -> str:
    """A digest of the manifest's content (canonical JSON), recorded in CORPUS.json."""
    return sha256_bytes(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())


def _origin_kind(where: str) -> str:
    if where.startswith("mirror "):
        return "mirrors"
    if "://" in where:
        return "network"
    return "local"


def check(manifest: dict[str, Any], out: Path | None, finder: Finder) -> dict[str, Any]:
    """Verify without writing: every source findable with the right sha256, and every built
    file in `out` (when it exists) as the manifest expects. Returns the summary with 'ok' and
    'problems'."""
    problems = manifest_problems(manifest)
    seconds = {e["out"]: float(e.get("seconds", 0)) for e in manifest.get("files", []) if isinstance(e, dict)}
    if problems:
        return {"ok": False, "problems": problems}
    built = out is not None and out.is_dir() and (out / MARKER).is_file()
    for e in manifest["files"]:
        if built:
            target = out / e["out"]
            if not target.is_file():
                problems.append(f"{e['out']}: missing from {out}")
            elif sha256_file(target) != expected_output_sha256(e):
                problems.append(f"{e['out']}: in {out} it has another sha256 than the manifest's")
            else:
                seconds[e["out"]] = seconds_of(target) or seconds[e["out"]]
                continue  # the built file is what the manifest expects: no need for its sources
        for spec in entry_files(e):
            try:
                fetch_source(finder, e, spec)
            except Refusal as r:
                problems.append(str(r))
    summary = summarise(manifest["files"], seconds)
    summary["ok"] = not problems
    summary["problems"] = problems
    if out is not None:
        summary["out"] = str(out)
        summary["out_checked"] = built
    return summary


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="build_corpus.py")
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="corpus/manifest.json by default")
    p.add_argument("--out", type=Path, help="the corpus folder to (re)build")
    p.add_argument(
        "--from", dest="local", type=Path, action="append", default=[], help="a folder of source files"
    )
    p.add_argument("--mirrors", type=Path, help="a folder of bare git snapshots, <owner>+<name>/repo")
    p.add_argument("--offline", action="store_true", help="never use the network")
    p.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "vqstudio-corpus", help="git clones"
    )
    p.add_argument("--remote-template", default=DEFAULT_REMOTE, help="clone URL, {repo} = owner/name")
    p.add_argument("--check", action="store_true", help="verify only; write nothing")
    p.add_argument(
        "--allow-new-conversions", action="store_true", help="accept converted files whose sha256 differs"
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    if not args.check and args.out is None:
        p.error("--out DIR is needed (or --check)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: see the module docstring."""
    args = _parse_args(argv)
    finder = Finder(
        local_dirs=[d.resolve() for d in args.local],
        mirrors=args.mirrors.resolve() if args.mirrors else None,
        offline=args.offline,
        cache=args.cache,
        remote_template=args.remote_template,
    )
    try:
        manifest = load_manifest(args.manifest)
        if args.check:
            summary = check(manifest, args.out.resolve() if args.out else None, finder)
            print(json.dumps(summary, indent=1))
            if not summary["ok"]:
                print(f"build_corpus: {summary['problems'][0]}", file=sys.stderr)
                return 2
            return 0
        log = None if args.quiet else sys.stderr.write
        summary = build(manifest, args.out, finder, allow_new_conversions=args.allow_new_conversions, log=log)
    except Refusal as r:
        print(f"build_corpus: {r}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0


def iter_entries(manifest: dict[str, Any], role: str | None = None) -> Iterator[dict[str, Any]]:
    """The manifest's entries, optionally of one role (for scripts that pick the bench files)."""
    for e in manifest["files"]:
        if role is None or e["role"] == role:
            yield e


if __name__ == "__main__":
    sys.exit(main())
