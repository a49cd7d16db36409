"""Named physics configurations of the reference Monte Carlo.

``default`` and ``alt`` play the roles of NuWro 21.09 and 25.03 in the transfer-learning paper
(arXiv:2508.12987): the same channels with a different nuclear model and different axial
couplings, so that "another interaction model" is a real target for fine-tuning.

=================  =====================  ===========================================
parameter          default                alt
=================  =====================  ===========================================
nuclear model      RFG (Smith–Moniz)       LFG (local Fermi gas)
QE M_A             1.03 GeV               1.35 GeV (MiniBooNE-like effective value)
vector FF          BBBA05                 BBBA05
Δ C5A(0), M_AΔ     1.2, 1.05 GeV (LPP06)  1.19, 1.034 GeV, dipole C5A (Graczyk et al.
                                          PRD 80 (2009) 093001 coupling)
=================  =====================  ===========================================
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from aiva.errors import AivaInputError
from aiva.mc.delta import DeltaParams


@dataclass(frozen=True)
class PhysicsConfig:
    name: str = "default"
    nuclear_model: str = "rfg"
    qe_MA: float = 1.03
    vector_ff: str = "bbba05"
    delta: DeltaParams = field(default_factory=DeltaParams)
    #: smooth RES→DIS transition: DIS switched on by a smoothstep over [dis_w_lo, dis_w_hi]
    #: (its strength under the Δ plays the non-resonant background), the Δ switched off by a
    #: smoothstep over [res_w_lo, res_w_hi] (GeV)
    dis_w_lo: float = 1.08
    dis_w_hi: float = 1.4
    res_w_lo: float = 1.6
    res_w_hi: float = 2.0

    def to_dict(self) -> dict:
        return asdict(self)


CONFIGS: dict[str, PhysicsConfig] = {
    "default": PhysicsConfig(),
    "alt": PhysicsConfig(name="alt", nuclear_model="lfg", qe_MA=1.35,
                         delta=DeltaParams(C5A0=1.19, MA=1.034, shape="dipole")),
}


def get_config(name: str | PhysicsConfig, **overrides) -> PhysicsConfig:
    if isinstance(name, PhysicsConfig):
        cfg = name
    else:
        if name not in CONFIGS:
            raise AivaInputError(f"unknown physics configuration {name!r}; known: {', '.join(CONFIGS)}")
        cfg = CONFIGS[name]
    return replace(cfg, **overrides) if overrides else cfg
