"""Reference Monte Carlo: CC (anti)neutrino–nucleus events on C, O, Ar and free nucleons.

See ``docs/physics.md`` for the model. Main entry points: :func:`simulate`, :func:`xsec_table`.
"""
from aiva.mc.config import CONFIGS, PhysicsConfig, get_config
from aiva.mc.flux import Flux
from aiva.mc.generator import DEFAULT_CHANNELS, simulate, xsec_table
from aiva.mc.run import simulate_to_file, xsec_table_to_file

__all__ = ["simulate", "xsec_table", "simulate_to_file", "xsec_table_to_file", "Flux", "PhysicsConfig",
           "CONFIGS", "get_config", "DEFAULT_CHANNELS"]
