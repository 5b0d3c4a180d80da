"""The programs that train the models the recommender runs, one runnable module each.

* ``python -m vos_recommender.training.learned``: the ``learned`` backend's small networks
  (:mod:`.learned`);
* ``python -m vos_recommender.training.native``: IPN, MANet or ATNet from scratch (:mod:`.native`);
* ``python -m vos_recommender.training.quality``: the wild quality estimator (:mod:`.quality`).

The videos and simulated wrong masks that the backends' training samples start from are shared through
:mod:`.videos`. The agent is trained by ``python -m vos_recommender.train``.
"""
