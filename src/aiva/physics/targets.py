"""Targets (nuclei) and probes.

Nuclear-model parameters:

* Relativistic Fermi gas (Smith & Moniz, Nucl. Phys. B 43 (1972) 605): Fermi momentum k_F and
  an average binding (removal) energy ε_B per nucleus, from the quasielastic electron-scattering
  fits of E. J. Moniz et al., Phys. Rev. Lett. 26 (1971) 445: ¹²C k_F = 0.221 GeV, ε_B = 25 MeV;
  ⁴⁰Ca k_F = 0.251 GeV, ε_B = 28 MeV (used for ⁴⁰Ar, as in NEUT and GENIE); ¹⁶O uses
  k_F = 0.225 GeV, ε_B = 27 MeV (the NEUT values interpolated from the same fits).
* Local Fermi gas: charge-density profiles from H. De Vries, C. W. De Jager, C. De Vries,
  At. Data Nucl. Data Tables 36 (1987) 495: harmonic-oscillator (HO) form
  ρ(r) ∝ (1 + α (r/a)²) exp(−(r/a)²) for ¹²C (a = 1.692 fm, α = 1.082) and ¹⁶O
  (a = 1.833 fm, α = 1.544); two-parameter Fermi (2pF) ρ(r) ∝ 1/(1 + exp((r−c)/z)) for ⁴⁰Ar
  (c = 3.53 fm, z = 0.542 fm). Proton and neutron densities are taken proportional to the
  charge density, scaled by Z/A and N/A.
"""
from __future__ import annotations

from dataclasses import dataclass

from aiva.errors import AivaInputError


def nuclear_pdg(Z: int, A: int) -> int:
    """PDG code 10LZZZAAAI of a nucleus in its ground state (L = I = 0); free proton 2212, neutron 2112."""
    if A == 1:
        return 2212 if Z == 1 else 2112
    return 1_000_000_000 + 10_000 * int(Z) + 10 * int(A)


@dataclass(frozen=True)
class Target:
    """A nuclear (or free-nucleon) target."""

    name: str  #: short name used on the command line, e.g. ``C12``
    Z: int
    N: int
    kF: float = 0.0  #: RFG Fermi momentum [GeV]; 0 for a free nucleon
    eps_b: float = 0.0  #: RFG average binding energy [GeV]
    density: str = "none"  #: ``ho``, ``2pf`` or ``none`` (free nucleon)
    density_params: tuple[float, float] = (0.0, 0.0)  #: (a, α) for HO, (c, z) for 2pF, in fm
    source: str = ""

    @property
    def A(self) -> int:
        return self.Z + self.N

    @property
    def is_nucleus(self) -> bool:
        return self.A > 1

    @property
    def pdg(self) -> int:
        """PDG nuclear code 10LZZZAAAI (free proton: 2212, free neutron: 2112)."""
        return nuclear_pdg(self.Z, self.A)


_MONIZ = "Moniz et al., PRL 26 (1971) 445"
_DEVRIES = "De Vries et al., ADNDT 36 (1987) 495"

TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("H1", 1, 0, source="free proton"),
        Target("n", 0, 1, source="free neutron"),
        Target("C12", 6, 6, 0.221, 0.025, "ho", (1.692, 1.082), f"{_MONIZ}; {_DEVRIES}"),
        Target("O16", 8, 8, 0.225, 0.027, "ho", (1.833, 1.544), f"{_MONIZ} (NEUT values); {_DEVRIES}"),
        Target("Ar40", 18, 22, 0.251, 0.028, "2pf", (3.53, 0.542), f"{_MONIZ} (40Ca values); {_DEVRIES}"),
    ]
}

_ALIASES = {"c": "C12", "carbon": "C12", "o": "O16", "oxygen": "O16", "ar": "Ar40", "argon": "Ar40",
            "h": "H1", "p": "H1", "proton": "H1", "neutron": "n", "12c": "C12", "16o": "O16", "40ar": "Ar40"}


def get_target(name: str) -> Target:
    """Look a target up by name (``C12``, ``O16``, ``Ar40``, ``H1``, ``n``; case-insensitive)."""
    key = _ALIASES.get(name.lower(), name)
    for k, t in TARGETS.items():
        if k.lower() == key.lower():
            return t
    raise AivaInputError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")


def target_from_za(Z: int, A: int) -> Target | None:
    for t in TARGETS.values():
        if t.Z == Z and t.A == A:
            return t
    return None


@dataclass(frozen=True)
class Probe:
    name: str
    pdg: int
    lepton_pdg: int  #: the outgoing charged lepton in CC scattering (or the scattered electron)
    lepton_mass: float

    @property
    def is_antineutrino(self) -> bool:
        return self.pdg < 0 and abs(self.pdg) in (12, 14, 16)


from aiva.physics.constants import M_ELECTRON, M_MUON  # noqa: E402

#: PDG codes: νμ 14, ν̄μ −14, e⁻ 11.
PROBES: dict[str, Probe] = {
    "numu": Probe("numu", 14, 13, M_MUON),
    "numubar": Probe("numubar", -14, -13, M_MUON),
    "e": Probe("e", 11, 11, M_ELECTRON),
}


def get_probe(name: str) -> Probe:
    key = name.lower().replace("-", "").replace("_", "")
    aliases = {"14": "numu", "-14": "numubar", "anumu": "numubar", "numub": "numubar", "11": "e", "electron": "e"}
    key = aliases.get(key, key)
    if key not in PROBES:
        raise AivaInputError(f"unknown probe {name!r}; known probes: {', '.join(PROBES)}")
    return PROBES[key]
