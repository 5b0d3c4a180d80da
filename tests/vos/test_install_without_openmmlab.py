"""``vos_recommender`` installs and imports without the OpenMMLab stack (``pip install .`` gives no mmcv)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: a meta-path finder makes mmcv, mmengine and mmseg unimportable (as in a
# venv without them), then every module of the package is imported and the frame environment and agent
# are built and stepped.
_PROBE = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    BLOCKED = ("mmcv", "mmengine", "mmseg")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not installed (blocked by the test)")
            return None

    sys.meta_path.insert(0, Block())
    import vos_recommender

    failed = []
    for info in pkgutil.walk_packages(vos_recommender.__path__, "vos_recommender."):
        try:
            importlib.import_module(info.name)
        except ImportError as error:
            failed.append(f"{info.name}: {error}")
    assert not failed, failed
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded

    from vos_recommender.agent import RecurrentDQN
    from vos_recommender.envs import FrameRecommendationEnv
    from vos_recommender.data import synthesize_video
    print("imported", len(list(pkgutil.walk_packages(vos_recommender.__path__, "vos_recommender."))), "modules")
    """
)


def test_vos_recommender_imports_without_mmcv_mmengine_mmseg() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "imported" in result.stdout


def test_the_probe_detects_an_openmmlab_import() -> None:
    # The same probe fails when a module of the package does import mmengine.
    probe = _PROBE.replace("import vos_recommender\n", "import vos_recommender\nimport mmengine\n", 1)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0 and "blocked by the test" in result.stderr
