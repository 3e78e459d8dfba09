"""One algorithm per module behind the :class:`~scenescout.recommenders.base.Recommender` protocol."""
