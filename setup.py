import os
import shutil

from setuptools import find_packages, setup


def compiled_extensions():
    """``mmseg_ranet._ext``: the compiled CPU operators of the RANet head (D, E, regions).

    Built when torch and a C++ compiler are present at build time (``scripts/setup_env.sh`` installs with
    ``--no-build-isolation`` for that). It is optional: if it cannot be built (an isolated ``pip install .``
    has no torch), the install goes on and mmseg_ranet falls back to a just-in-time build or to the
    pure-PyTorch operators. Set ``MMSEG_RANET_NO_EXT=1`` to skip it.
    """
    if os.environ.get("MMSEG_RANET_NO_EXT", "0") not in ("", "0"):
        return [], {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:  # an isolated build without torch: skip, the runtime falls back
        return [], {}
    if not (shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")):
        return [], {}

    class OptionalBuildExtension(BuildExtension):
        # setuptools only forgives distutils errors for optional extensions; ninja failures are RuntimeError.
        def build_extension(self, ext):
            try:
                super().build_extension(ext)
            except Exception as error:  # noqa: BLE001
                if not getattr(ext, "optional", False):
                    raise
                self.warn(
                    f"optional extension {ext.name} not built, the PyTorch fallback will be used: {error}"
                )

    extension = CppExtension(
        name="mmseg_ranet._ext",
        sources=[
            "mmseg_ranet/csrc/bindings.cpp",
            "mmseg_ranet/csrc/boundary_max_table.cpp",
            "mmseg_ranet/csrc/jensen_shannon.cpp",
            "mmseg_ranet/csrc/region_scores.cpp",
        ],
        extra_compile_args=["-O3", "-fopenmp"],
        extra_link_args=["-fopenmp"],
        optional=True,
    )
    return [extension], {"build_ext": OptionalBuildExtension.with_options(use_ninja=True)}


EXT_MODULES, CMDCLASS = compiled_extensions()

VOS_REQUIRES = [
    "torch>=2.8",
    "numpy>=2.0",
    "scipy",
    "scikit-image",
    "opencv-python",
    "pillow",
    "matplotlib",
    "networkx",
    "gymnasium>=1.0",
    "stable-baselines3>=2.3",
    "tensorboard",  # the training run logs through SB3's TensorBoard writer
    "tqdm",
    "rich",
    "pyyaml",
]
SEG_REQUIRES = [
    "mmengine>=0.10,<0.11",
    "mmcv>=2.0.0rc4,<2.2.0",
    "mmsegmentation>=1.2,<1.3",
    # `import mmseg.models` needs these two; mmengine's `mmseg::` config inheritance needs pkg_resources.
    "ftfy",
    "regex",
    "setuptools<81",
]
# The browser annotation app (python -m vos_recommender.app); the package imports it only when asked for.
APP_REQUIRES = ["fastapi>=0.110", "uvicorn>=0.29"]
TEST_REQUIRES = ["pytest>=9,<10", "pytest-timeout", "ruff", "httpx2", "playwright"]

setup(
    name="ranet-ivos",
    version="0.1.0",
    description=(
        "RANet (NeurIPS 2020) as an MMSegmentation plugin, and a learned frame recommender for "
        "interactive video object segmentation (CVPR 2021)"
    ),
    packages=find_packages(include=["mmseg_ranet", "mmseg_ranet.*", "vos_recommender", "vos_recommender.*"]),
    python_requires=">=3.10",
    ext_modules=EXT_MODULES,
    cmdclass=CMDCLASS,
    package_data={"mmseg_ranet": ["csrc/*.cpp", "csrc/*.h"]},
    # The exact pins live in requirements.txt and are installed by scripts/setup_env.sh; these are the
    # ranges the code is written against. A plain `pip install .` gives the frame recommender
    # (vos_recommender), which needs no OpenMMLab package; the `seg` extra adds the segmentation stack
    # (mmcv 2.1.0 has no wheel on PyPI: see scripts/setup_env.sh for building it with its CPU ops).
    install_requires=VOS_REQUIRES,
    extras_require={
        "vos": [],
        "app": APP_REQUIRES,
        "seg": SEG_REQUIRES,
        "test": APP_REQUIRES + TEST_REQUIRES,
        "all": SEG_REQUIRES + APP_REQUIRES + TEST_REQUIRES,
    },
)
