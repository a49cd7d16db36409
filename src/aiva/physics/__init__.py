"""Physics core: constants, targets, probes, kinematics and proxy variables."""
from aiva.physics import constants
from aiva.physics.kinematics import (
    PROXY_EMAX,
    PROXY_EMIN,
    PROXY_THRESHOLD,
    from_proxies,
    lepton_kinematics,
    to_proxies,
)
from aiva.physics.targets import COMPOUNDS, PROBES, TARGETS, Compound, Probe, Target, get_compound, get_probe, get_target

__all__ = [
    "constants",
    "TARGETS",
    "PROBES",
    "Target",
    "Probe",
    "get_target",
    "get_compound",
    "Compound",
    "COMPOUNDS",
    "get_probe",
    "lepton_kinematics",
    "to_proxies",
    "from_proxies",
    "PROXY_EMIN",
    "PROXY_EMAX",
    "PROXY_THRESHOLD",
]
