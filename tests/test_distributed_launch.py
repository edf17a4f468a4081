"""The parts of distributed training that need no second process: the world the environment
describes, one process's identity answers, what `--nproc` starts and how it reads the way its
processes ended (tests/test_distributed.py runs the processes)."""

from __future__ import annotations

import signal

import pytest

from vqstudio import distributed
from vqstudio.cli.launch import launch_outcome, worker_command
from vqstudio.errors import VQStudioError


def test_the_world_comes_from_the_launcher_s_environment():
    assert distributed.world_from_env({}) == distributed.World()
    assert not distributed.world_from_env({"WORLD_SIZE": "1", "RANK": "0"}).distributed
    world = distributed.world_from_env(
        {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    )
    assert world == distributed.World(3, 4, 1, 2) and world.distributed and not world.is_main
    with pytest.raises(VQStudioError, match="RANK"):
        distributed.world_from_env({"WORLD_SIZE": "2", "RANK": "2"})
    with pytest.raises(VQStudioError, match="WORLD_SIZE"):
        distributed.world_from_env({"WORLD_SIZE": "two"})


def test_one_process_agrees_with_itself_and_exchanges_nothing():
    import torch

    assert distributed.current() == distributed.World()
    agreed = distributed.agree({"done": False, "lr": 0.5, "threads": 2}, any_of={"stop": True})
    assert agreed == {"done": False, "lr": 0.5, "threads": 2, "stop": True}
    rows = torch.arange(6)
    assert distributed.shard(rows) is rows and distributed.gather(rows) is rows
    assert distributed.main_first(lambda: 7) == 7
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    distributed.exchange_gradients([p])
    assert p.grad.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(RuntimeError, match="out of memory"), distributed.after_exchange():
        raise RuntimeError("CPU out of memory")  # one process: halved by the loop, as before


def test_nproc_starts_this_command_without_nproc_as_a_module_or_the_frozen_executable(tmp_path):
    argv = ["train", "a.edf", "--project", "P", "--nproc", "2", "--minutes", "1", "--nproc=3"]
    assert worker_command(argv, False, "vqstudio") == [
        "-m",
        "vqstudio",
        "train",
        "a.edf",
        "--project",
        "P",
        "--minutes",
        "1",
    ]
    exe = tmp_path / "vqstudio"
    frozen = worker_command(argv, True, str(exe))
    assert frozen[:2] == ["--no-python", str(exe)] and "--nproc" not in frozen and frozen[2] == "train"


@pytest.mark.parametrize(
    ("failures", "code", "killed"),
    [
        ({0: (130, 11)}, 130, None),  # a stop: rank 0 reports it, the others exit 0
        ({0: (130, 11), 1: (-signal.SIGTERM, 12)}, 130, None),  # the launcher's SIGTERM after it
        ({0: (2, 11), 1: (-signal.SIGTERM, 12)}, 2, None),  # rank 0 refused (its line says why)
        ({1: (-signal.SIGKILL, 12), 0: (2, 11)}, 1, (1, 12, "SIGKILL")),  # a killed rank is named
        ({0: (1, 11)}, 1, None),  # an internal error (its traceback says it)
        ({1: (-signal.SIGTERM, 12)}, 1, (1, 12, "SIGTERM")),  # a SIGTERM from outside, after training
    ],
)
def test_how_the_processes_ended_is_the_command_s_exit_code(failures, code, killed):
    assert launch_outcome(failures) == (code, killed)


def test_differentially_private_training_is_refused_on_several_processes(tmp_path, capsys, monkeypatch):
    import threading

    from tiny import write_input

    from vqstudio.cli.main import main
    from vqstudio.errors import ProjectError
    from vqstudio.events import run_to_end
    from vqstudio.training import TrainSettings, train

    source = write_input(tmp_path, "a")
    args = ["train", source, "--project", str(tmp_path / "P"), "--dp-epsilon", "5", "--nproc", "2"]
    assert main(args) == 2  # said once, before any process starts
    assert "one process" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")  # a process torchrun started: refused before it joins
    settings = TrainSettings(inputs=(source,), window_s=2.0, dp_epsilon=5.0, device="cpu")
    with pytest.raises(ProjectError, match="one process"):
        run_to_end(train(settings, str(tmp_path / "Q"), threading.Event()))
    assert not (tmp_path / "P").exists() and not (tmp_path / "Q").exists()


def test_the_command_line_is_this_python_or_the_executable_beside_the_frozen_app(tmp_path):
    from vqstudio.cli.launch import command_line

    assert command_line(False, "/usr/bin/python3") == ["/usr/bin/python3", "-m", "vqstudio"]
    gui = tmp_path / "app" / "vqstudio-gui"
    assert command_line(True, str(gui)) == [str(tmp_path / "app" / "vqstudio")]
    assert command_line(True, str(tmp_path / "VQ Studio" / "vqstudio-gui.exe")) == [
        str(tmp_path / "VQ Studio" / "vqstudio.exe")
    ]
