"""``python -m vos_recommender.table1``: run the Table 1 protocol (:func:`vos_recommender.table1.protocol.main`)."""

from vos_recommender.table1.protocol import main

if __name__ == "__main__":
    main()
