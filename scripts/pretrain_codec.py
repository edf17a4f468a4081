"""Pretrains the per-channel codec that ships with VQ Studio, reproducibly, from the corpus.

    .venv/bin/python scripts/build_corpus.py --out CORPUS ...        # first: the corpus itself
    .venv/bin/python scripts/pretrain_codec.py --corpus CORPUS --minutes 45 \\
        --out vqstudio/weights/codec.safetensors

Only the manifest's "pretrain" files are read (the EEG bench's people and everything
`../shared/data/HELD_OUT.md` lists are not among them); two people of each kind are kept apart
for the held-out figure. The weights file carries the manifest's sha256, the files it learned
from with their licences and attribution, the settings and the figures, and this script prints
the figures as JSON. With the same corpus, settings, seed and thread count the run repeats,
except for where a time budget ends (give --steps for the same steps).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from vqstudio.codec import SHIPPED_CODEC  # noqa: E402
from vqstudio.training.pretrain import PretrainSettings, corpus_files, pretrain_codec  # noqa: E402


def _provenance(manifest_path: str, files: list, version: str) -> dict:
    """What the weights learned from: the manifest (its sha256), each file, datasets, licences."""
    with open(manifest_path, "rb") as f:
        raw = f.read()
    manifest = json.loads(raw)
    used = {os.path.basename(f.path) for f in files}
    entries = [
        {k: e[k] for k in ("out", "dataset", "record", "kind", "licence")}
        for e in manifest["files"]
        if e["role"] == "pretrain" and os.path.basename(e["out"]) in used
    ]
    return {
        "version": version,
        "corpus": manifest.get("name", ""),
        "manifest_sha256": hashlib.sha256(raw).hexdigest(),
        "files": entries,
        "datasets": manifest.get("datasets", {}),
        "licences": manifest.get("licences", {}),
        "attribution": sorted({e["attribution"] for e in manifest["files"] if e["role"] == "pretrain"}),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {_threads()}",
    }


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--manifest", default=os.path.join(ROOT, "corpus", "manifest.json"))
    parser.add_argument("--corpus", required=True, help="the folder scripts/build_corpus.py built")
    parser.add_argument("--out", default=SHIPPED_CODEC)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: the time alone)")
    parser.add_argument("--preset", default="codec")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--decoder-noise", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--version", default="1")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        files = corpus_files(args.manifest, args.corpus, role="pretrain")
    except (OSError, ValueError, KeyError) as e:  # no corpus built yet, or a damaged manifest
        print(f"pretrain_codec: {e}", file=sys.stderr)
        return 2
    settings = PretrainSettings(
        preset=args.preset,
        window=args.window,
        batch_size=args.batch_size,
        minutes=args.minutes,
        steps=args.steps,
        seed=args.seed,
        decoder_noise=args.decoder_noise,
    )
    figures = pretrain_codec(
        files, settings, args.out, _provenance(args.manifest, files, args.version), log=print
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
