"""The class results board: every pair's measurement live on the projector (docs/board.md).

- :mod:`~masterclass.board.schema`: what a pair may post, checked field by field;
- :mod:`~masterclass.board.physics`: binomial errors, efficiency correction, median and spread;
- :mod:`~masterclass.board.store`: one JSON file per pair in the results volume, and the
  organiser's reader (``python -m masterclass.board.store dump|purge``);
- :mod:`~masterclass.board.views`: what each viewer (projector, pair) is shown;
- :mod:`~masterclass.board.service`: the hub-managed service at ``/services/results/``;
- :mod:`~masterclass.board.client`: the pair's side, posting from ``results.record``.

Nothing here imports NumPy or TensorFlow: the service runs in the hub image.
"""
