"""Pretraining the per-channel codec on a corpus (here a tiny one the test writes), the weights
file it leaves (format, provenance, no pickle), and loading it for any channel count."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vqstudio.codec import load_codec
from vqstudio.errors import CheckpointError
from vqstudio.io import write_recording
from vqstudio.recording import Recording
from vqstudio.training.pretrain import CorpusChannels, corpus_files, split_people

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _eeg(seconds: float, rate: float, seed: int) -> Recording:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    data = [20 * np.sin(2 * np.pi * 10 * t + i) + 5 * rng.standard_normal(t.size) for i in range(2)]
    beats = (np.sin(2 * np.pi * 1.2 * t) > 0.98).astype(float)
    return Recording.from_array(
        np.array([*data, beats], dtype=np.float32), rate, ["EEG Fz", "EEG Cz", "ECG ECG"], ["uV", "uV", "mV"]
    )


@pytest.fixture
def corpus(tmp_path):
    """A manifest of four people (three EEG files, one ECG file) and the files it names."""
    folder = tmp_path / "corpus"
    entries = []
    for i, (kind, rate) in enumerate([("eeg", 250.0), ("eeg", 500.0), ("eeg", 250.0), ("ecg", 360.0)]):
        out = f"set/p{i}.edf"
        os.makedirs(folder / "set", exist_ok=True)
        write_recording(_eeg(40.0, rate, i), str(folder / out))
        sha = hashlib.sha256((folder / out).read_bytes()).hexdigest()
        entry = {"out": out, "dataset": "set", "record": f"p{i}", "subject": str(i), "kind": kind}
        entries.append({**entry, "role": "pretrain", "sha256": sha, "licence": "ODC-By", "attribution": "t"})
    entries.append({**entries[0], "out": "set/bench.edf", "subject": "9", "role": "bench-test"})
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"name": "test corpus", "files": entries, "datasets": {}, "licences": {}}))
    return str(manifest), str(folder)


def test_only_pretrain_files_are_read_and_people_stay_whole(corpus):
    manifest, folder = corpus
    files = corpus_files(manifest, folder)
    assert [os.path.basename(f.path) for f in files] == ["p0.edf", "p1.edf", "p2.edf", "p3.edf"]
    train, held = split_people(files, per_kind=1, seed=0)
    assert {f.person for f in train}.isdisjoint({f.person for f in held})
    assert [f.kind for f in held] == ["eeg"]  # the one ECG person is not held out: none would train


def test_windows_are_single_channels_normalised_at_every_rate(corpus):
    manifest, folder = corpus
    data = CorpusChannels(corpus_files(manifest, folder), rates=(100.0, 200.0), window=256, seed=0)
    assert data.kinds == ["ecg", "eeg"]  # the ECG lead of an EEG file counts as ECG
    # 3 EEG files x 2 EEG channels x 2 rates; ECG: 3 leads in EEG files + the ECG file's 3 channels
    assert len(data.rows["eeg"]) == 3 * 2 * 2 + 0 and len(data.rows["ecg"]) == (3 + 3) * 2
    batch = data.batch(64)
    assert batch.shape == (64, 1, 256) and batch.dtype == np.float32
    assert all(abs(float(r.mean())) < 1e-3 and abs(float(r.std()) - 1) < 1e-3 for r in data.rows["eeg"])


def test_the_script_writes_a_codec_that_carries_its_corpus(corpus, tmp_path):
    manifest, folder = corpus
    out = tmp_path / "codec.safetensors"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "pretrain_codec.py"), "--manifest", manifest,
         "--corpus", folder, "--steps", "3", "--window", "128", "--batch-size", "8", "--out", str(out),
         "--version", "test-1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["steps"] == 3 and "held_out_snr_db" in figures
    codec = load_codec(str(out))
    assert codec.version == "test-1" and codec.config["per_channel"]
    provenance = codec.info["provenance"]
    with open(manifest, "rb") as f:
        assert provenance["manifest_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert sorted(f["record"] for f in provenance["files"]) == ["p0", "p1", "p2", "p3"]  # no bench file
    # One set of weights for any montage.
    import torch

    from vqstudio.models.tokenizer import Tokenizer

    for channels in (1, 5):
        model = Tokenizer(codec.config_for(channels, 256))
        codec.load_into(model)
        assert model(torch.randn(2, channels, 256)).reconstruction.shape == (2, channels, 256)


def test_a_shared_tokenizer_is_no_codec(tmp_path):
    import dataclasses

    from vqstudio.models.tokenizer import Tokenizer, preset_config
    from vqstudio.project.checkpoint import save_weights

    model = Tokenizer(preset_config("small", channels=2, window=256))
    path = str(tmp_path / "shared.safetensors")
    save_weights(path, model.published_state(), "codec", dataclasses.asdict(model.cfg), 0)
    with pytest.raises(CheckpointError, match="not a per-channel codec"):
        load_codec(path)


def test_the_script_says_in_one_line_when_the_corpus_is_not_built(corpus, tmp_path):
    manifest, _ = corpus
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "pretrain_codec.py"), "--manifest", manifest,
         "--corpus", str(tmp_path / "none"), "--steps", "1", "--out", str(tmp_path / "c.safetensors")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "build the corpus first" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "c.safetensors").exists()
