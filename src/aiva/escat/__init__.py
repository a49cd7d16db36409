"""Electron–nucleus inclusive cross sections d²σ/dωdΩ from deep learning.

* :mod:`aiva.escat.data` — the shipped archive tables, user CSVs, the low-ω cut, splits;
* :mod:`aiva.escat.model` — the network (one or many members, vectorised), Mott-like factor;
* :mod:`aiva.escat.fit` — χ² with dataset normalisations, bootstrap ensembles, transfer learning;
* :mod:`aiva.escat.io` — saving/loading models (safetensors + JSON card).
"""
