"""Nothing lost, part two (issue 18): a full disk never yields a "written" truncated file, one run
writes a project at a time, foreign files stay untouched, pairs of files are written as one,
temporary files of killed runs go, and memory and time are known before they are spent.

Each numbered case of the issue is a test here, with its reproduction (each failed before the
fix). Cases 7-8 (damaged weights and metadata) are in test_loaded_checks.py, the messages of
case 9 in test_honest_messages.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from guards import fill, refused
from tiny import tiny_cli_args, train_tiny, write_input

from vqstudio.cli import main
from vqstudio.device import is_out_of_memory
from vqstudio.errors import LimitError, user_error
from vqstudio.generation import cost as cost_module
from vqstudio.generation.cost import SAMPLE_BATCH_BYTES, generate_cost
from vqstudio.io import read_recordings
from vqstudio.project import Project

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Two tiny projects of the same shape (one per source recording)."""
    before = torch.get_num_threads()
    folder = tmp_path_factory.mktemp("lost2")
    source = write_input(folder, "source")
    other = write_input(folder, "other", seconds=30.0)
    project = train_tiny([source], folder / "project")
    twin = train_tiny([other], folder / "twin")
    yield {"folder": folder, "source": source, "other": other, "project": project, "twin": twin}
    torch.set_num_threads(before)


@pytest.fixture
def project(made, tmp_path) -> str:
    """A fresh copy of the tiny project."""
    return shutil.copytree(made["project"], tmp_path / "p", symlinks=True).as_posix()


def _temps(folder: str) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(".vqs-")]


def _child(code: str, *args: str, **kw) -> subprocess.Popen:
    """A Python child running `code` with the tests' helpers importable."""
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kw)


# ------------------------------------------------------------------- 1: a full disk


@pytest.mark.parametrize("ext", [".edf", ".bdf"])
def test_1_a_full_disk_keeps_the_good_file_and_says_so(made, small_disk, capsys, ext):
    good = str(small_disk / f"g{ext}")
    assert main(["generate", made["project"], "--seconds", "60", "--seed", "1", "--out", good]) == 0
    fill(small_disk, leave=40_000)  # less than the next file needs (77 or 115 KB)
    argv = ["generate", made["project"], "--seconds", "300", "--seed", "2", "--out", good]
    assert "the disk is full" in refused(capsys, argv, good)
    assert read_recordings(good)[0].channels[0].duration == 60  # still the first run's, whole
    assert not _temps(str(small_disk))


def test_1b_reconstruct_on_a_full_disk_keeps_the_good_file(made, small_disk, capsys):
    good = str(small_disk / "r.edf")
    assert main(["reconstruct", made["project"], made["other"], "--out", good]) == 0
    fill(small_disk, leave=8_000)
    argv = ["reconstruct", made["project"], made["source"], "--out", good]
    assert "the disk is full" in refused(capsys, argv, good)
    assert not _temps(str(small_disk))


FILE_SIZE_LIMIT = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from vqstudio.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_1c_a_writer_that_stops_short_is_caught_without_root(made, tmp_path):
    """edflib's write errors vanish in its close; the size check sees the short file (a file-size
    limit stands in for a full disk where mounting one needs root)."""
    out = str(tmp_path / "g.edf")
    argv = ["generate", made["project"], "--seconds", "400", "--out", out]  # 102 KB
    child = _child(FILE_SIZE_LIMIT, "50000", *argv, stderr=subprocess.PIPE)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 2, err
    assert "stopped after" in err.splitlines()[-1] and "Traceback" not in err
    assert not os.path.exists(out) and not _temps(str(tmp_path))


# ------------------------------------------------------------------- 2: foreign files


def test_2_train_refuses_a_folder_of_someone_elses_files(made, tmp_path, capsys):
    folder = tmp_path / "F"
    folder.mkdir()
    (folder / "history.jsonl").write_text('{"mine": 1}\n')
    (folder / "tokenizer.safetensors").write_bytes(b"my own weights")
    argv = ["train", made["source"], "--project", str(folder), *tiny_cli_args()]
    last = refused(capsys, argv, folder / "history.jsonl", folder / "tokenizer.safetensors")
    assert "is not empty and not a VQ Studio project" in last
    assert sorted(os.listdir(folder)) == ["history.jsonl", "tokenizer.safetensors"]


def test_2b_an_empty_folder_is_fine_and_bad_input_leaves_no_folder(made, tmp_path, capsys):
    empty = tmp_path / "E"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"")  # what a desktop leaves in any folder it shows
    assert main(["train", made["source"], "--project", str(empty), *tiny_cli_args()]) == 0
    assert Project.started(str(empty))
    missing = tmp_path / "N"
    refused(capsys, ["train", str(tmp_path / "no.edf"), "--project", str(missing), *tiny_cli_args()])
    assert not missing.exists()


# ------------------------------------------------------------------- 3: one run per project

HOLD_LOCK = """
import sys, time
from vqstudio.project.lock import ProjectLock
ProjectLock(sys.argv[1], "vqstudio train").acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_3_a_held_project_names_its_holder_to_every_writer(project, made, tmp_path, capsys):
    holder = _child(HOLD_LOCK, project, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        pid = f"process {holder.pid} "
        for argv in (
            ["train", "--project", project, "--resume", "--tokenizer-steps", "6"],
            ["generate", project, "--seconds", "2", "--out", os.path.join(project, "samples", "g.edf")],
            ["evaluate", project, "--synthetic", made["other"], "--no-references"],
        ):
            last = refused(capsys, argv, os.path.join(project, "state.safetensors"))
            assert pid in last and "(vqstudio train, started" in last
        # Reading is free: a generate writing elsewhere runs beside the training.
        assert main(["generate", project, "--seconds", "2", "--out", str(tmp_path / "g.edf")]) == 0
    finally:
        holder.kill()
        holder.wait()
    # The holder was killed: the next run takes the project over and says so.
    assert main(["train", "--project", project, "--resume", "--tokenizer-steps", "6"]) == 0
    assert f"took over {project} from process {holder.pid}" in capsys.readouterr().err


def test_3b_two_trainings_started_together_one_wins(made, tmp_path):
    folder = str(tmp_path / "N")
    command = [sys.executable, "-m", "vqstudio", "train", made["source"], "--project", folder]
    runs = []
    for seed in (1, 2):
        runs.append(
            subprocess.Popen(
                [*command, *tiny_cli_args(), "--seed", str(seed)], stderr=subprocess.PIPE, text=True
            )
        )
        time.sleep(0.2)
    ended = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    codes = sorted(code for code, _ in ended)
    assert codes == [0, 2], ended
    loser = next(err for code, err in ended if code == 2)
    assert "is in use by process" in loser or "already holds a project" in loser
    winner = 1 + [code for code, _ in ended].index(0)
    assert Project.open(folder).seed == winner


def test_3c_one_of_several_processes_without_a_launcher_is_refused(made, tmp_path, capsys, monkeypatch):
    # Several processes train one project together when torchrun starts them
    # (tests/test_distributed.py); WORLD_SIZE alone, with no rendezvous, is one line.
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    last = refused(capsys, ["train", made["source"], "--project", str(tmp_path / "T"), *tiny_cli_args()])
    assert "one of 2" in last and "torchrun" in last
    assert not (tmp_path / "T").exists()


# ------------------------------------------------------------------- 4: pairs written as one

KILL_AT_RENAME = """
import os, signal, sys
real, calls = os.replace, [0]
at = int(sys.argv[1])

def replace(src, dst):
    calls[0] += 1
    if calls[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)

os.replace = replace
from vqstudio.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _generate_killed_at_rename(at: int, argv: list[str]) -> None:
    child = _child(KILL_AT_RENAME, str(at), *argv, stderr=subprocess.DEVNULL)
    assert child.wait(timeout=120) == -signal.SIGKILL


def test_4_a_kill_between_the_two_renames_is_found_on_reading(made, tmp_path, capsys):
    out = str(tmp_path / "g.npy")
    assert (
        main(["generate", made["project"], "--seconds", "4", "--count", "2", "--seed", "1", "--out", out])
        == 0
    )
    # The sidecar is renamed first: a kill before the array's rename leaves the new sidecar
    # beside the old array.
    argv = ["generate", made["project"], "--seconds", "4", "--count", "3", "--seed", "2", "--out", out]
    _generate_killed_at_rename(2, argv)
    assert "not written together" in refused(capsys, ["info", out])
    # A kill before the first rename leaves the old pair whole, and its temporary files.
    assert (
        main(["generate", made["project"], "--seconds", "4", "--count", "2", "--seed", "1", "--out", out])
        == 0
    )
    capsys.readouterr()
    _generate_killed_at_rename(1, argv)
    assert len(_temps(str(tmp_path))) == 2
    assert main(["info", out, "--json"]) == 0
    assert len(read_recordings(out)) == 2
    # The next write into the folder sweeps the killed writer's temporary files.
    assert main(["generate", made["project"], "--seconds", "2", "--out", str(tmp_path / "h.edf")]) == 0
    assert not _temps(str(tmp_path))


# ------------------------------------------------------------------- 5: temporary files


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_5_temporary_files_of_killed_runs_go_with_the_next_run(project, capsys):
    hour_ago = time.time() - 7200
    dead = f".vqs-{_dead_pid()}-abcdefgh.part.safetensors"
    alive = ".vqs-1-abcdefgh.part.safetensors"  # pid 1 runs: not ours to remove
    old = ".vqs-k3j4h5g6.part.edf"  # VQ Studio 0.2's name, an hour old
    new = ".vqs-z9y8x7w6.part.edf"  # ... and one of a write that may still run
    mine = ".vqs-notes.txt"  # a user's file that only looks like ours
    for name in (dead, alive, old, new, mine):
        with open(os.path.join(project, name), "w") as f:
            f.write("x")
    os.utime(os.path.join(project, old), (hour_ago, hour_ago))
    assert main(["train", "--project", project, "--resume", "--tokenizer-steps", "6"]) == 0
    assert sorted(_temps(project)) == sorted([alive, new, mine])


# ------------------------------------------------------------------- 6: memory and time


def test_6_generate_samples_in_batches_whatever_the_count(made):
    tokenizer = Project.open(made["project"]).load_tokenizer()
    from vqstudio.priors.store import load_prior

    prior = load_prior(os.path.join(made["project"], "prior.safetensors"))
    cost = generate_cost(tokenizer.cfg, prior.config, 100_000, 8, 64, 64, False)
    assert 1 <= cost.batch < 100_000 and cost.batch_bytes <= SAMPLE_BATCH_BYTES
    one_long = generate_cost(tokenizer.cfg, prior.config, 1, 8_000_000, 64_000_000, 64_000_000, False)
    assert one_long.batch == 1 and one_long.total_bytes > 10e9  # 1e6 s: counted, not waved through


def test_6b_requests_larger_than_the_memory_are_refused_first(made, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("vqstudio.resources.available_memory", lambda: 50_000_000)
    out = str(tmp_path / "d.npy")
    last = refused(capsys, ["generate", made["project"], "--seconds", "1", "--count", "100000", "--out", out])
    assert "needs about" in last and "available" in last and not os.path.exists(out)
    last = refused(capsys, ["generate", made["project"], "--seconds", "5e5", "--out", out])
    assert "needs about" in last
    monkeypatch.setattr("vqstudio.resources.available_memory", lambda: 100_000)  # below 40 s of 2 channels
    argv = ["train", made["source"], "--project", str(tmp_path / "T"), *tiny_cli_args()]
    assert "needs about" in refused(capsys, argv)


def test_6c_a_long_request_says_so_before_it_goes_on(made, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cost_module, "LONG_REQUEST_S", 0.0)
    assert main(["generate", made["project"], "--seconds", "8", "--out", str(tmp_path / "g.edf")]) == 0
    err = capsys.readouterr().err
    assert "note: generating 1 x 8 s will take about" in err and "Ctrl-C stops it" in err


def test_6d_running_out_of_memory_on_a_cpu_is_one_line(made, tmp_path, capsys, monkeypatch):
    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
    assert is_out_of_memory(cpu) and is_out_of_memory(MemoryError())
    assert isinstance(user_error(MemoryError()), LimitError)

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("vqstudio.generation.sampling.decode_latents", no_memory, raising=False)
    monkeypatch.setattr("vqstudio.priors.continuation.decode_latents", no_memory)
    last = refused(capsys, ["generate", made["project"], "--seconds", "2", "--out", str(tmp_path / "g.edf")])
    assert "ran out of memory" in last


# ------------------------------------------------------------------- 7: identity


@pytest.mark.parametrize(
    "name",
    [
        "tokenizer.safetensors",
        "prior.safetensors",
        "tokenizer.best.safetensors",
        "prior.best.safetensors",
        "state.safetensors",
    ],
)
def test_7_a_checkpoint_copied_from_a_project_of_the_same_shape_is_named(made, project, capsys, name):
    shutil.copy(os.path.join(made["twin"], name), os.path.join(project, name))
    # Generate samples with the best checkpoints by default; the latest when asked.
    weights = ["--weights", "best" if ".best." in name else "latest"]
    argv = (
        ["train", "--project", project, "--resume", "--tokenizer-steps", "6"]
        if name == "state.safetensors"
        else [
            "generate",
            project,
            "--seconds",
            "2",
            *weights,
            "--out",
            os.path.join(project, "samples", "g.edf"),
        ]
    )
    assert f"{name} belongs to another project" in refused(capsys, argv)


# ------------------------------------------------------------------- 8: history lines


@pytest.mark.parametrize("step", ['"x"', "null", "[1]"])
def test_8_history_lines_that_are_not_ours_do_not_stop_a_resume(project, step):
    with open(os.path.join(project, "history.jsonl"), "a") as f:
        f.write(f'{{"stage": "tokenizer", "step": {step}}}\n')
    assert main(["train", "--project", project, "--resume", "--tokenizer-steps", "6"]) == 0
    steps = [r["step"] for r in Project.open(project).history("tokenizer")]
    assert steps == sorted(steps) and all(isinstance(s, int) for s in steps)


# ------------------------------------------------------------------- 9: inside a project


def test_9_plots_never_go_into_a_new_folder_inside_a_project(made, project, capsys):
    inside = os.path.join(project, "newdir")
    argv = ["evaluate", project, "--synthetic", made["other"], "--no-references", "--plots", inside]
    assert "inside the project folder" in refused(capsys, argv)
    assert not os.path.exists(inside)
    json_inside = os.path.join(project, "newdir2", "r.json")
    os.makedirs(os.path.dirname(json_inside))
    argv = ["evaluate", project, "--synthetic", made["other"], "--no-references", "--json", json_inside]
    assert "inside the project folder" in refused(capsys, argv)


def test_9b_a_read_only_project_is_read_only_to_every_command(made, project, capsys):
    os.chmod(project, 0o555)  # root passes os.access: the write bits are what count
    try:
        argv = ["evaluate", project, "--synthetic", made["other"], "--no-references"]
        assert "read-only" in refused(capsys, argv)
        assert not os.path.exists(os.path.join(project, "reports"))
        assert refused(capsys, ["train", "--project", project, "--resume", "--tokenizer-steps", "6"])
    finally:
        os.chmod(project, 0o755)


def test_npy_reader_checks_the_sidecar_describes_its_array(made, tmp_path, capsys):
    out = str(tmp_path / "g.npy")
    assert main(["generate", made["project"], "--seconds", "2", "--count", "2", "--out", out]) == 0
    side = str(tmp_path / "g.json")
    with open(side) as f:
        meta = json.load(f)
    assert meta["shape"] == [2, 2, 128] and len(meta["npy_sha256"]) == 64
    np.save(out, np.zeros((2, 2, 128), np.float32))  # same shape, other content
    assert "sha256 differs" in refused(capsys, ["info", out])
