"""The paper's Table 1 on generated data: ``python -m vos_recommender.table1`` (see :mod:`.protocol`).

:mod:`.protocol` is the command, :mod:`.steps` its steps (data, backends, agents, quality estimators,
evaluations), :mod:`.report` the table it writes; the tables themselves are assembled by
:mod:`vos_recommender.evaluation.table1`.
"""
