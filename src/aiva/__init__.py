"""aiva — AI for νA: data-driven models of (anti)neutrino– and electron–nucleus scattering.

Public sub-packages:

* :mod:`aiva.physics` – constants, targets, kinematics and the proxy variables of the GAN papers
* :mod:`aiva.events`  – the event table (Parquet, NUISANCE-style columns), readers, writers, validation
* :mod:`aiva.metrics` – pulls, MAP, MAP-3D, EMD and the classifier two-sample test
* :mod:`aiva.mc`      – the reference Monte Carlo (QE, Δ(1232), DIS on C, O, Ar; ν and ν̄)
"""
from aiva._version import __version__

__all__ = ["__version__"]
