"""``python -m vos_recommender.training.native``: see :mod:`.cli`."""

from vos_recommender.training.native.cli import main

if __name__ == "__main__":  # importing the package's modules (e.g. to list them) must not start a run
    main()
