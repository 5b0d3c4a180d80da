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
#   USE_UV          1 (default): install packages with uv (a pip-compatible installer that links files
#                   from its cache, so a second install takes seconds instead of minutes); 0: plain pip.
#                   uv reads pip's configuration from here (index, extra indexes, find-links,
#                   constraints); if uv cannot be installed or fails, the step is redone with pip.
#   INSTALL_BROWSER 1 (default): install Debian's chromium with apt-get when no chromium is on the PATH
#                   (needs root or password-less sudo; the annotation app's browser test drives it);
#                   0: skip (that test is then skipped, with the reason).
#   EXT_CACHE_DIR   compiled-operator cache, keyed by a hash of their sources, torch, Python and the
#                   compiler (default: ${XDG_CACHE_HOME:-~/.cache}/mmseg_ranet/ext)
#
# A second set-up on the same machine (a new clone, CI) reuses the mmcv wheel, pip's cache and the
# compiled operators, so it only installs: see docs/install.md for the measured times.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
MMCV_WHEEL_DIR="${MMCV_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmseg_ranet/wheels}"
EXT_CACHE_DIR="${EXT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmseg_ranet/ext}"
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

step() { STEP="$1"; echo "==> [${SECONDS}s] $1"; }

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

# uv does not read pip's configuration files, so pass it what pip would use on this machine.
UV_ARGS=(--python "$PY" --index-strategy unsafe-best-match)
pip_setting() {  # $1: pip option name; prints the environment's value, else the configured one
  local env_name="PIP_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  if [ -n "${!env_name:-}" ]; then echo "${!env_name}"; return; fi
  "${PIP[@]}" config get "global.$1" 2>/dev/null || "${PIP[@]}" config get "install.$1" 2>/dev/null || true
}
INDEX_URL="$(pip_setting index-url)"
[ -n "$INDEX_URL" ] && UV_ARGS+=(--index-url "$INDEX_URL")
for url in $(pip_setting extra-index-url); do UV_ARGS+=(--extra-index-url "$url"); done
for link in $(pip_setting find-links); do UV_ARGS+=(--find-links "$link"); done
for file in $(pip_setting constraint); do [ -f "$file" ] && UV_ARGS+=(--constraint "$file"); done
UV=""
if [ "${USE_UV:-1}" = "1" ]; then
  if "${PIP[@]}" install -q uv >/dev/null 2>&1 && [ -x "$VENV/bin/uv" ]; then
    UV="$VENV/bin/uv"
  else
    echo "    uv could not be installed: installing with pip"
  fi
fi
install_packages() {  # arguments as for `pip install`; uv first, pip if uv is off or fails
  if [ -n "$UV" ]; then
    if "$UV" pip install -q "${UV_ARGS[@]}" "$@"; then return 0; fi
    echo "    uv failed (above): retrying with pip"
  fi
  "${PIP[@]}" install -q "$@"
}

step "install build prerequisites ($TORCH_PIN, $SETUPTOOLS_PIN)"
install_packages "$TORCH_PIN" "$SETUPTOOLS_PIN" wheel ninja

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
install_packages --find-links "$MMCV_WHEEL_DIR" -r "$ROOT/requirements.txt"

# The compiled operators take about a minute to build; the result depends only on their sources, the
# build script, torch, Python and the compiler, so it is cached under a hash of those and copied in.
EXT_KEY="$( { cat "$ROOT"/mmseg_ranet/csrc/* "$ROOT/setup.py"; "$PY" -c "import sys, torch; print(sys.version, torch.__version__)"; \
  "${CXX:-c++}" --version 2>/dev/null || true; } | sha256sum | cut -c1-32)"
EXT_SO_NAME="$("$PY" -c "import sysconfig; print('_ext' + sysconfig.get_config_var('EXT_SUFFIX'))")"
CACHED_EXT="$EXT_CACHE_DIR/$EXT_KEY/$EXT_SO_NAME"
if [ -f "$CACHED_EXT" ]; then
  step "install this project in editable mode (compiled operators from the cache: $EXT_CACHE_DIR/$EXT_KEY)"
  MMSEG_RANET_NO_EXT=1 "${PIP[@]}" install -q --no-build-isolation --no-deps -e "$ROOT"
  cp "$CACHED_EXT" "$ROOT/mmseg_ranet/.tmp-$EXT_SO_NAME"
  mv "$ROOT/mmseg_ranet/.tmp-$EXT_SO_NAME" "$ROOT/mmseg_ranet/$EXT_SO_NAME"
else
  step "install this project in editable mode (builds the compiled operators)"
  "${PIP[@]}" install -q --no-build-isolation --no-deps -e "$ROOT"
  if [ -f "$ROOT/mmseg_ranet/$EXT_SO_NAME" ]; then
    mkdir -p "$EXT_CACHE_DIR/$EXT_KEY"
    cp "$ROOT/mmseg_ranet/$EXT_SO_NAME" "$EXT_CACHE_DIR/$EXT_KEY/.tmp-$EXT_SO_NAME"
    mv "$EXT_CACHE_DIR/$EXT_KEY/.tmp-$EXT_SO_NAME" "$CACHED_EXT"
  fi
fi

step "browser for the annotation app's end-to-end test (chromium, driven by playwright)"
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "    found $(command -v chromium || command -v chromium-browser)"
elif [ "${INSTALL_BROWSER:-1}" != "1" ]; then
  echo "    INSTALL_BROWSER=0: not installing chromium (the browser test will be skipped)"
else
  APT=()
  if [ "$(id -u)" = "0" ]; then APT=(apt-get); elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then APT=(sudo -n apt-get); fi
  if [ ${#APT[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    # Not fatal: the project works without it, only the browser test is skipped.
    DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -q --no-install-recommends chromium >/dev/null \
      || { "${APT[@]}" update -q >/dev/null && DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -q --no-install-recommends chromium >/dev/null; } \
      || echo "    could not install chromium with apt-get (above): the browser test will be skipped"
  else
    echo "    no chromium, and no root/sudo apt-get to install it: the browser test will be skipped"
  fi
fi

step "check that torchvision is absent (its PyPI build breaks mmengine here)"
if "$PY" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torchvision') is None)"; then
  "${PIP[@]}" uninstall -y -q torchvision
fi

step "verify imports"
"$PY" - <<'PYEOF'
import mmcv.ops, mmseg, mmseg_ranet, vos_recommender  # noqa: E401
from mmseg_ranet.models.ops._compiled import compiled_available, compiled_unavailable_reason

print("    mmcv", mmcv.__version__, "| mmseg", mmseg.__version__)

if compiled_available():
    print("    compiled operators (D, E, regions): available")
else:
    print(f"    compiled operators (D, E, regions): unavailable ({compiled_unavailable_reason()}); using PyTorch")
PYEOF

echo "$STAMP" > "$STAMP_FILE"
echo "==> [${SECONDS}s] environment ready: $VENV"
