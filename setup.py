from setuptools import find_packages, setup

setup(
    name="ranet-ivos",
    version="0.1.0",
    description=(
        "RANet (NeurIPS 2020) as an MMSegmentation plugin, and a learned frame recommender for "
        "interactive video object segmentation (CVPR 2021)"
    ),
    packages=find_packages(include=["mmseg_ranet", "mmseg_ranet.*", "vos_recommender", "vos_recommender.*"]),
    python_requires=">=3.10",
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
