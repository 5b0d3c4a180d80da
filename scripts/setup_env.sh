#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in ./.venv and install the pinned stack.
#
# Idempotent: a second run only checks that everything is in place (seconds).
# mmcv 2.1.0 is published on PyPI only as source; it is built once with its CPU ops and the wheel
# is kept in a per-user cache outside the checkout, so fresh clones on the same machine reuse it.
#
# Environment knobs:
#   VENV            where to create the environment (default: <repo>/.venv)
#   PYTHON          interpreter used to create it (default: python3.11, else python3)
#   MMCV_WHEEL_DIR  wheel cache (default: ${XDG_CACHE_HOME:-~/.cache}/mmseg_ranet/wheels)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
MMCV_WHEEL_DIR="${MMCV_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmseg_ranet/wheels}"
TORCH_PIN="torch==2.13.0"
SETUPTOOLS_PIN="setuptools==80.10.2"
MMCV_PIN="mmcv==2.1.0"
STEP="start"

fail() {
  echo >&2
  echo "setup_env.sh: FAILED at step: $STEP" >&2
  echo "setup_env.sh: fix the error above and run the command again (finished steps are skipped)." >&2
}
trap fail ERR

step() { STEP="$1"; echo "==> $1"; }

step "create virtual environment at $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

# Stamp: hash of the inputs that decide what is installed. Equal stamp -> nothing to do.
STAMP_FILE="$VENV/.setup-stamp"
# The compiled operators' sources are inputs too: a changed kernel rebuilds the extension.
STAMP="$(cat "$ROOT/requirements.txt" "$ROOT/setup.py" "$0" "$ROOT"/mmseg_ranet/csrc/* | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP" ] \
   && "$PY" -c "import mmcv.ops, mmseg, mmseg_ranet, vos_recommender" 2>/dev/null; then
  echo "==> environment is up to date ($VENV)"
  exit 0
fi

step "install build prerequisites ($TORCH_PIN, $SETUPTOOLS_PIN)"
"${PIP[@]}" install -q "$TORCH_PIN" "$SETUPTOOLS_PIN" wheel ninja

step "build or reuse the mmcv wheel with CPU ops (cache: $MMCV_WHEEL_DIR)"
mkdir -p "$MMCV_WHEEL_DIR"
if ! ls "$MMCV_WHEEL_DIR"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  echo "    no cached wheel: building $MMCV_PIN from source (about 7 minutes on 2 cores, once per machine)"
  BUILD_DIR="$(mktemp -d)"
  # Build isolation would bring a setuptools without pkg_resources, which mmcv's setup.py imports.
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$BUILD_DIR" "$MMCV_PIN"
  # Move into the cache atomically so an interrupted build never leaves a partial wheel there.
  for whl in "$BUILD_DIR"/mmcv-*.whl; do
    cp "$whl" "$MMCV_WHEEL_DIR/.tmp-$(basename "$whl")"
    mv "$MMCV_WHEEL_DIR/.tmp-$(basename "$whl")" "$MMCV_WHEEL_DIR/$(basename "$whl")"
  done
  rm -rf "$BUILD_DIR"
else
  echo "    using cached wheel: $(ls "$MMCV_WHEEL_DIR"/mmcv-2.1.0-*.whl | head -n1)"
fi

step "install pinned requirements"
"${PIP[@]}" install -q --find-links "$MMCV_WHEEL_DIR" -r "$ROOT/requirements.txt"

step "install this project in editable mode"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$ROOT"

step "check that torchvision is absent (its PyPI build breaks mmengine here)"
if "$PY" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torchvision') is None)"; then
  "${PIP[@]}" uninstall -y -q torchvision
fi

step "verify imports"
"$PY" -c "import mmcv.ops, mmseg, mmseg_ranet, vos_recommender; print('    mmcv', mmcv.__version__, '| mmseg', mmseg.__version__)"
"$PY" - <<'PYEOF'
from mmseg_ranet.models.ops._compiled import compiled_available, compiled_unavailable_reason

if compiled_available():
    print("    compiled operators (D, E, regions): available")
else:
    print(f"    compiled operators (D, E, regions): unavailable ({compiled_unavailable_reason()}); using PyTorch")
PYEOF

echo "$STAMP" > "$STAMP_FILE"
echo "==> environment ready: $VENV"
