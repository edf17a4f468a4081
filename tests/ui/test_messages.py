"""Messages the app shows speak its own words: no command-line flag (`--resume`, `--project`,
`--real`...) survives in a dialog, the status line or the log, whatever the engine said."""

from __future__ import annotations

import ast
import os
import re

import pytest

from ui.errors import app_message

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAG = re.compile(r"--[a-z]")


def _strings(folder: str, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Every string constant (f-string pieces too) with a `--` in the Python files of `folder`."""
    found = []
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, folder)):
        for name in files:
            path = os.path.join(dirpath, name)
            if not name.endswith(".py") or any(part in path for part in skip):
                continue
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            docstrings = {
                id(n.body[0].value)
                for n in ast.walk(tree)
                if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and n.body
                and isinstance(n.body[0], ast.Expr)
            }
            for node in ast.walk(tree):
                if id(node) in docstrings:
                    continue  # read by developers, never shown
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and FLAG.search(node.value):
                    found.append((os.path.relpath(path, ROOT), node.value))
    return found


def test_every_engine_message_is_translated():
    # The engine's messages are written for the command line; any of them may reach a dialog.
    strings = _strings("vqstudio")
    assert len(strings) > 30  # the scan sees the engine's messages
    left = [(where, text, app_message(text)) for where, text in strings if FLAG.search(app_message(text))]
    assert not left, left[:5]


def test_the_app_itself_names_no_flag():
    # ui/app.py defines the `vqstudio-gui` command line itself: its flags are its own. The Train
    # tab's "all N GPUs" builds a `vqstudio train` command line (ui/train_command.py), and the
    # self-test runs one (ui/selftest.py: its check of --nproc), never shown.
    skip = ("app.py", "train_command.py", "selftest.py")
    left = [(where, text) for where, text in _strings("ui", skip=skip) if not _is_pattern(text)]
    assert not left, left


def _is_pattern(text: str) -> bool:
    """The translation table's own patterns (they name the flags they replace)."""
    return text.startswith("(") or "\\" in text or text in _flag_keys()


def _flag_keys() -> set[str]:
    from ui import errors

    return {p for p, _ in errors._PHRASES}


@pytest.mark.parametrize(
    ("engine", "words"),
    [
        (
            "/p already holds a project; add --resume to continue it, or choose another --project folder",
            "resume it",
        ),
        (
            "the files given are not the ones /p was trained on; give the same files with --resume "
            "(or none, to re-read the stored paths)",
            "File > Open project",
        ),
        (
            "only 1 held-out real window(s) to compare with; give more real data with --real",
            "reference recordings",
        ),
        ("--device cuda asked for, but this torch sees no CUDA GPU; use --device cpu", "CPU"),
        (
            "no project folder at /x; train one first with: vqstudio train FILE --project /x",
            "train a project",
        ),
        (
            "--stage prior continues the prior, but --prior-steps 0 leaves it out; give --prior-steps N "
            "or choose --stage tokenizer",
            "Resume continues: tokenizer",
        ),
        (
            "night1-Hypnogram.edf: the file holds annotations only (no signal to show or train on); add "
            "its annotations to the recording they belong to",
            "open the recording they belong to, then this file",
        ),
    ],
)
def test_known_messages_read_as_the_app_speaks(engine, words):
    said = app_message(engine)
    assert words in said and "--" not in said and "vqstudio train" not in said


def test_dialogs_translate_what_they_show(window, dialogs):
    from ui.errors import show_error

    show_error(window, "Cannot resume", "give the same files with --resume")
    assert dialogs[-1][2] == "give the same files with Resume"
