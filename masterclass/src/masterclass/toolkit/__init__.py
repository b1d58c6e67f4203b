"""The student toolkit: what a pair's kernel imports through ``from masterclass import *``.

The flat namespace is built in :mod:`masterclass` (``_EXPORTS``); this package holds the
modules behind it, from the bottom up: ``runtime`` and ``results`` (seeds, threads,
recorded results), ``render`` (the rotation and mirror geometry), ``display`` (drawing
event displays), ``events``, ``augment``, ``plots``, ``efficiency``, ``overview`` and
``model`` (the only one that imports TensorFlow). ``oom`` is the pair's Jupyter server
hook. Importing this package imports none of them.
"""
