#!/usr/bin/env bash
# Installs torch into a virtual environment, choosing the build on purpose:
#   TORCH_BUILD=auto (default)  the CUDA build where an NVIDIA GPU is found (nvidia-smi lists one),
#                               the CPU build elsewhere
#   TORCH_BUILD=cpu | cuda      that build
#   TORCH_INDEX=URL             this package index instead (any build, e.g. .../whl/cu126)
#   TORCH_CUDA=cu128            the CUDA variant of PyTorch's index (pick it for your driver)
# Why: pip's default index (PyPI) serves the CUDA build on Linux, with its nvidia-* and triton
# packages (several GB), even on machines without a GPU; PyTorch's CPU index serves ~200 MB.
# When the chosen index cannot be reached (offline CI, a mirror-only network), pip's default
# configuration is used instead (it may supply a local wheel). Prints the build it installed.
#
# usage: install-torch.sh PYTHON [VERSION]     (TORCH_DRY_RUN=1 prints the pip command only)
set -euo pipefail
py="${1:?usage: install-torch.sh PYTHON [VERSION]}"
version="${2:-2.13.0}"
build="${TORCH_BUILD:-auto}"
index="${TORCH_INDEX:-}"
cuda="${TORCH_CUDA:-cu128}"
base="https://download.pytorch.org/whl"

has_nvidia_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q "^GPU"
}

if [ -z "$index" ]; then
  case "$build" in
    auto) if has_nvidia_gpu; then build=cuda why="nvidia-smi lists a GPU"; else build=cpu why="no NVIDIA GPU found"; fi ;;
    cpu | cuda) why="TORCH_BUILD=$build" ;;
    *) echo "TORCH_BUILD must be auto, cpu or cuda (got '$build')" >&2; exit 2 ;;
  esac
  if [ "$build" = cuda ]; then index="$base/$cuda"; else index="$base/cpu"; fi
  echo "torch $version: the $build build ($why), from $index"
else
  echo "torch $version: from $index (TORCH_INDEX)"
fi

# A quick look at the index (10 s at most): pip itself would retry an unreachable index for minutes.
reachable() {
  "$py" - "$1" <<'EOF'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=10).close()
except Exception as error:
    print(f"  cannot reach it: {error}", file=sys.stderr)
    sys.exit(1)
EOF
}

args=(-m pip install -q "torch==$version")
if [ "${TORCH_SKIP_PROBE:-}" != 1 ] && ! reachable "$index"; then
  echo "  falling back to pip's default index (the build it has; see the line below)"
else
  args+=(--index-url "$index")
fi
if [ -n "${TORCH_DRY_RUN:-}" ]; then
  echo "would run: $py ${args[*]}"
  exit 0
fi
"$py" "${args[@]}"
"$py" -W ignore -c 'import torch; print(f"installed torch {torch.__version__} (CUDA available: {torch.cuda.is_available()})")'
