"""`vqstudio demo`: the whole pipeline on the built-in recording, as the README's first command
runs it, ending with the metric summary and what a membership attacker would learn."""

from __future__ import annotations

import json

import pytest
import torch

from vqstudio.cli import main

pytestmark = pytest.mark.slow  # trains, generates and evaluates (about half a minute)


def test_demo_trains_generates_evaluates_and_prints_the_membership_figures(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        code = main(["demo", "--out", str(tmp_path), "--minutes", "0.3", "--device", "cpu"])
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert code == 0
    assert (tmp_path / "demo.edf").is_file() and (tmp_path / "synthetic.edf").is_file()
    assert "Membership inference: How well an attacker tells" in out
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    judged = report["membership"]["strongest"]
    # the table names the strongest attack the report holds (or says why none could be judged)
    said = f"Strongest membership attack: {judged['title']}" if judged else "could not be judged"
    assert said in out
    assert out.rstrip().endswith(f"report: {tmp_path / 'report' / 'report.json'}")
