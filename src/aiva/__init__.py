"""aiva — AI for νA: data-driven models of (anti)neutrino– and electron–nucleus scattering.

Public sub-packages:

* :mod:`aiva.physics` – constants, targets, kinematics and the proxy variables of the GAN papers
* :mod:`aiva.events`  – the event table (Parquet, NUISANCE-style columns), readers, writers, validation
* :mod:`aiva.metrics` – pulls, MAP, MAP-3D, EMD and the classifier two-sample test
* :mod:`aiva.mc`      – the reference Monte Carlo (QE, Δ(1232), DIS on C, O, Ar; ν and ν̄)
* :mod:`aiva.api`     – the in-memory API, also as ``aiva.simulate``, ``aiva.generate``,
  ``aiva.compare``, ``aiva.train``, ``aiva.transfer``, ``aiva.evaluate``, ``aiva.predict``
"""
from aiva._version import __version__

#: the in-memory API (:mod:`aiva.api`), loaded on first use so that ``import aiva`` stays light
_API = ("simulate", "generate", "load_model", "compare", "train", "transfer", "evaluate", "predict", "read_events",
        "write_events", "EventTable", "Selection", "Comparison", "TrainResult", "Prediction")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from aiva import api

        return getattr(api, name)
    raise AttributeError(f"module 'aiva' has no attribute {name!r}")
