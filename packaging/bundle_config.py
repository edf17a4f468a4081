"""What goes into the VQ Studio bundle and what stays out: data read by the spec and by build.py.

Plain Python with no PyInstaller import, so the rules can be tested without building.
Every exclusion is here with the reason; the spec applies them, build.py reports them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

APP_NAME = "vqstudio"
GUI_EXE = "vqstudio-gui"
CLI_EXE = "vqstudio"

# Qt modules the app uses: pyqtgraph needs QtCore/QtGui/QtWidgets, its OpenGL view QtOpenGL and
# QtOpenGLWidgets, its SVG exporter QtSvg. Every other PySide6 module is excluded so the Qt hooks
# collect neither its library nor its plugins (QtQml/QtQuick alone pull in ~40 MB).
QT_KEEP = ("QtCore", "QtGui", "QtWidgets", "QtOpenGL", "QtOpenGLWidgets", "QtSvg")
QT_EXCLUDE = (
    "Qt3DAnimation", "Qt3DCore", "Qt3DExtras", "Qt3DInput", "Qt3DLogic", "Qt3DRender",
    "QtBluetooth", "QtCharts", "QtConcurrent", "QtDBus", "QtDataVisualization", "QtDesigner",
    "QtGraphs", "QtGraphsWidgets", "QtHelp", "QtHttpServer", "QtLocation", "QtMultimedia",
    "QtMultimediaWidgets", "QtNetwork", "QtNetworkAuth", "QtNfc", "QtPdf", "QtPdfWidgets",
    "QtPositioning", "QtPrintSupport", "QtQml", "QtQuick", "QtQuick3D", "QtQuickControls2",
    "QtQuickTest", "QtQuickWidgets", "QtRemoteObjects", "QtScxml", "QtSensors", "QtSerialBus",
    "QtSerialPort", "QtSpatialAudio", "QtSql", "QtStateMachine", "QtSvgWidgets", "QtTest",
    "QtTextToSpeech", "QtUiTools", "QtWebChannel", "QtWebEngineCore", "QtWebEngineQuick",
    "QtWebEngineWidgets", "QtWebSockets", "QtWebView", "QtXml",
)  # fmt: skip

# Python packages kept out of the bundle. Dev tools must never ship (they are in the dev venv
# only, and listing them here guards against a venv that has them by accident); the rest are
# optional imports of our dependencies that the app never takes.
EXCLUDED_MODULES = (
    # dev-only tools
    "pytest", "_pytest", "pytestqt", "pytest_qt", "pytest_timeout", "hypothesis", "mne", "ruff",
    "IPython", "ipykernel", "jupyter", "jupyter_client", "notebook", "sphinx",
    # optional imports of torch/matplotlib/pyqtgraph that the app never takes
    "tensorboard", "torch.utils.tensorboard", "tensorflow", "caffe2",
    # torch's own test suite (torch.utils.checkpoint imports torch.testing._internal.logging_tensor,
    # so the package stays; its big test-only modules go)
    "torch.testing._internal.distributed", "torch.testing._internal.opinfo",
    "torch.testing._internal.generated", "torch.testing._internal.optests",
    "torch.testing._internal.common_methods_invocations", "torch.testing._internal.common_modules",
    "torch.testing._internal.common_nn", "torch.testing._internal.common_quantization",
    "torch.testing._internal.common_distributed", "torch.testing._internal.common_fsdp",
    "torch.utils.benchmark", "torchvision", "triton", "onnx", "onnxruntime", "expecttest",
    "tkinter", "_tkinter", "matplotlib.backends._backend_tk", "matplotlib.backends.backend_tkagg",
    "matplotlib.backends.backend_tkcairo", "matplotlib.backends.backend_gtk3",
    "matplotlib.backends.backend_gtk4", "matplotlib.backends.backend_wx",
    "matplotlib.backends.backend_wxagg", "matplotlib.backends.backend_webagg",
    "matplotlib.backends.backend_nbagg", "PyQt5", "PyQt6", "PySide2",
    "pyqtgraph.examples", "pyqtgraph.jupyter",
    # build tools and torch.compile's code generators (no compiling in the shipped app)
    "setuptools", "pkg_resources", "_distutils_hack", "pip", "wheel", "networkx", "jinja2",
    # other Qt bindings' modules we do not use
    *(f"PySide6.{m}" for m in QT_EXCLUDE),
)  # fmt: skip

# Files dropped from the collected binaries and data (destination paths inside the bundle,
# fnmatch patterns). Each is unused at run time by a CPU app that never compiles.
DROPPED_FILES = (
    "torch/bin/*",  # C++ test executables and protoc (50 MB)
    "torch/test/*",  # C++ unit-test executables (83 MB)
    "torch/include/*",  # C++ headers for extensions
    "torch/share/*",  # CMake files
    "torch/lib/libjitbackend_test.so",
    "torch/lib/libtorchbind_test.so",
    "torch/lib/libbackend_with_compiler.so",
    "torch/lib/libaoti_custom_ops.so",
    "torch/_inductor/codegen/*.cpp",
    "torch/_inductor/codegen/*.h",
    "PySide6/Qt/translations/*",  # Qt's own UI strings in other languages; the app is English
    "PySide6/Qt/qml/*",
    "PySide6/Qt/plugins/tls/*",
    "PySide6/Qt/plugins/networkinformation/*",
    "PySide6/Qt/plugins/generic/*",
    # platforms other than a desktop (X11 or Wayland) and offscreen: embedded, VNC, Vulkan display
    "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqminimal.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/egldeviceintegrations/*",
    # the GTK3 theme plugin drags in GTK, cairo, pango and atk (Qt draws its own Fusion style)
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
    "PySide6/Qt/plugins/imageformats/libqtiff.so",
    "PySide6/Qt/plugins/imageformats/libqwebp.so",
    "PySide6/Qt/plugins/imageformats/libqtga.so",
    "PySide6/Qt/plugins/imageformats/libqwbmp.so",
    "PySide6/Qt/plugins/imageformats/libqicns.so",
    "matplotlib/mpl-data/sample_data/*",
    "*/tests/*",  # package test suites (numpy, scipy, ...)
)


# Files kept although a pattern above matches them.
KEPT_FILES = ("torch/bin/torch_shm_manager",)  # `import torch` checks that it exists


def is_dropped(dest: str, patterns: Iterable[str] = DROPPED_FILES) -> bool:
    """True when a bundle path (forward or back slashes) matches one of the dropped patterns."""
    path = dest.replace("\\", "/")
    if path in KEPT_FILES:
        return False
    return any(fnmatch.fnmatch(path, p) for p in patterns)


def orphaned_libraries(
    top_level_before: set[str], needed_before: set[str], needed_after: set[str]
) -> set[str]:
    """Top-level libraries that only dropped files needed: needed before the drop, not after.

    Libraries no binary links to (loaded with ctypes/dlopen) are in neither set and are kept.
    """
    return {lib for lib in top_level_before if lib in needed_before and lib not in needed_after}


def cuda_problem(torch_cuda: str | None, nvidia_dists: Iterable[str]) -> str | None:
    """Why this torch would put CUDA into the CPU bundle, or None when it is a CPU build.

    `torch_cuda` is `torch.version.cuda`; `nvidia_dists` the installed `nvidia-*` distributions.
    """
    nvidia = sorted(nvidia_dists)
    if torch_cuda is None and not nvidia:
        return None
    parts = []
    if torch_cuda is not None:
        parts.append(f"torch is a CUDA {torch_cuda} build")
    if nvidia:
        parts.append(
            f"CUDA packages are installed ({', '.join(nvidia[:4])}{', ...' if len(nvidia) > 4 else ''})"
        )
    return (
        "; ".join(parts)
        + ": the bundle would carry gigabytes of CUDA libraries. Build from a venv with the CPU torch "
        "(pip install torch==2.13.0 from the CPU index), "
        "or pass --allow-cuda to build a CUDA bundle on purpose."
    )
