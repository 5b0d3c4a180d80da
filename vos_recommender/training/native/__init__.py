"""Training the native IPN, ATNet and MANet networks (the ``cpu`` sizes) on DAVIS-layout videos.

* :mod:`.samples`: scribbled frames and transfer pairs, shared by the models;
* :mod:`.ipn` / :mod:`.atnet` / :mod:`.manet`: each model's inputs and loss;
* :mod:`.cli`: the command (``python -m vos_recommender.training.native``), run folder and resume.
"""

from __future__ import annotations

from vos_recommender.training.native.cli import NativeTrainSettings, main, parse_args, train

__all__ = ["NativeTrainSettings", "main", "parse_args", "train"]
