"""Reference Monte Carlo: CC (anti)neutrino–nucleus events on C, O, Ar and free nucleons.

See ``docs/physics.md`` for the model. Main entry points: :func:`simulate`, :func:`xsec_table`.
"""
from aiva.mc import channels as _channels
from aiva.mc import coherent as _coherent
from aiva.mc import nc as _nc
from aiva.mc import twop2h as _twop2h
from aiva.mc.config import CONFIGS, PhysicsConfig, get_config
from aiva.mc.flux import Flux
from aiva.mc.generator import DEFAULT_CHANNELS, simulate, xsec_table
from aiva.mc.run import simulate_to_file, xsec_table_to_file

# the channel modules import the framework of aiva.mc.channels, so they are registered here, above it
_channels.CHANNELS.update(mec=_twop2h.mec, coh=_coherent.coh, nccoh=_coherent.nccoh, ncel=_nc.ncel, ncres=_nc.ncres,
                          ncdis=_nc.ncdis)

__all__ = ["simulate", "xsec_table", "simulate_to_file", "xsec_table_to_file", "Flux", "PhysicsConfig",
           "CONFIGS", "get_config", "DEFAULT_CHANNELS"]
