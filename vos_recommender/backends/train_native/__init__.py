"""Training the native IPN and ATNet networks (the ``cpu`` sizes) on DAVIS-layout videos.

* :mod:`.samples`: scribbled frames and transfer pairs, shared by both models;
* :mod:`.ipn` / :mod:`.atnet`: each model's inputs and loss;
* :mod:`.cli`: the command (``python -m vos_recommender.backends.train_native``), run folder and resume.
"""

from __future__ import annotations

from vos_recommender.backends.train_native.cli import NativeTrainSettings, main, parse_args, train

__all__ = ["NativeTrainSettings", "main", "parse_args", "train"]
