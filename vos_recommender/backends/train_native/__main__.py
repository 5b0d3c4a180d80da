"""``python -m vos_recommender.backends.train_native``: see :mod:`.cli`."""

from vos_recommender.backends.train_native.cli import main

main()
