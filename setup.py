import os
import shutil

from setuptools import find_packages, setup


def compiled_extensions():
    """``mmseg_ranet._ext``: the compiled boundary-table operator.

    Built for the CPU always (when torch and a C++ compiler are present), with a CUDA kernel only when the
    toolkit is found and its source exists. It is optional: if it cannot be built, the install goes on and
    mmseg_ranet falls back to a just-in-time build or to the pure-PyTorch operator.
    """
    if os.environ.get("MMSEG_RANET_NO_EXT", "0") not in ("", "0"):
        return [], {}
    try:
        import torch
        from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
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

    sources = [
        "mmseg_ranet/csrc/bindings.cpp",
        "mmseg_ranet/csrc/boundary_max_table.cpp",
        "mmseg_ranet/csrc/jensen_shannon.cpp",
        "mmseg_ranet/csrc/region_scores.cpp",
    ]
    cuda_source = "mmseg_ranet/csrc/boundary_max_table_cuda.cu"
    use_cuda = (
        os.path.isfile(cuda_source)
        and CUDA_HOME is not None
        and (torch.cuda.is_available() or os.environ.get("FORCE_CUDA", "0") == "1")
    )
    cxx_flags = ["-O3", "-fopenmp"]
    if use_cuda:
        extension = CUDAExtension(
            name="mmseg_ranet._ext",
            sources=[*sources, cuda_source],
            define_macros=[("MMSEG_RANET_WITH_CUDA", None)],
            extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3"]},
            extra_link_args=["-fopenmp"],
            optional=True,
        )
    else:
        extension = CppExtension(
            name="mmseg_ranet._ext",
            sources=sources,
            extra_compile_args=cxx_flags,
            extra_link_args=["-fopenmp"],
            optional=True,
        )
    return [extension], {"build_ext": OptionalBuildExtension.with_options(use_ninja=True)}


EXT_MODULES, CMDCLASS = compiled_extensions()

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
    package_data={"mmseg_ranet": ["csrc/*.cpp", "csrc/*.h", "csrc/*.cu"]},
    # The exact pins live in requirements.txt and are installed by scripts/setup_env.sh;
    # these are the ranges the code is written against.
    install_requires=[
        "torch>=2.8",
        "mmengine>=0.10,<0.11",
        "mmcv>=2.0.0rc4,<2.2.0",
        "mmsegmentation>=1.2,<1.3",
        "numpy",
        "scipy",
        "scikit-image",
        "networkx",
        "opencv-python",
        "matplotlib",
        "gymnasium>=1.0",
        "stable-baselines3>=2.3",
    ],
)
