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
  (c = 3.53 fm, z = 0.542 fm) and ⁵⁶Fe (c = 4.111 fm, z = 0.558 fm). Proton and neutron
  densities are taken proportional to the charge density, scaled by Z/A and N/A.
* ⁵⁶Fe: Moniz et al. (1971) did not fit iron; their nearest nucleus, natural nickel
  (k_F = 0.260 GeV, ε_B = 36 MeV), is used for it.

Compound targets (:class:`Compound`, :func:`get_compound`): ``CH`` (polystyrene scintillator,
one ¹²C and one ¹H per unit) and ``H2O``. Normalisation convention: a compound's cross section
is quoted *per nucleon*, σ_compound = Σ_i n_i σ_i / Σ_i n_i A_i with σ_i per nucleus of
component i (e.g. σ(CH) per nucleon = (σ_C + σ_H)/13); events of a compound are mixed nucleus by
nucleus with probabilities n_i σ_i(E) / Σ_j n_j σ_j(E) (:meth:`Compound.fractions`).
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
        Target("Fe56", 26, 30, 0.260, 0.036, "2pf", (4.111, 0.558), f"{_MONIZ} (natNi values); {_DEVRIES}"),
    ]
}

_ALIASES = {"c": "C12", "carbon": "C12", "o": "O16", "oxygen": "O16", "ar": "Ar40", "argon": "Ar40",
            "h": "H1", "p": "H1", "proton": "H1", "neutron": "n", "12c": "C12", "16o": "O16", "40ar": "Ar40",
            "fe": "Fe56", "iron": "Fe56", "56fe": "Fe56"}


def get_target(name: str) -> Target:
    """Look a target up by name (``C12``, ``O16``, ``Ar40``, ``Fe56``, ``H1``, ``n``; case-insensitive)."""
    key = _ALIASES.get(name.lower(), name)
    for k, t in TARGETS.items():
        if k.lower() == key.lower():
            return t
    raise AivaInputError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")


@dataclass(frozen=True)
class Compound:
    """A target made of several nuclei, ``components`` = ((Target, count per molecule), …).

    Cross sections of a compound are per nucleon: σ = Σ n_i σ_i / Σ n_i A_i (σ_i per nucleus).
    """

    name: str
    components: tuple[tuple[Target, int], ...]

    @property
    def A(self) -> int:
        """Nucleons per molecule (13 for CH, 18 for H₂O)."""
        return sum(t.A * k for t, k in self.components)

    @property
    def Z(self) -> int:
        return sum(t.Z * k for t, k in self.components)

    def sigma_per_nucleon(self, sigma_per_nucleus):
        """σ per nucleon from the per-nucleus cross sections of the components (same order):
        Σ n_i σ_i / Σ n_i A_i; arrays broadcast."""
        if len(sigma_per_nucleus) != len(self.components):
            raise AivaInputError(f"{self.name}: {len(self.components)} components, "
                                 f"{len(sigma_per_nucleus)} cross sections given")
        return sum(k * s for (_, k), s in zip(self.components, sigma_per_nucleus)) / self.A

    def fractions(self, sigma_per_nucleus):
        """Probability that an event of the compound is on component i: n_i σ_i / Σ n_j σ_j."""
        terms = [k * s for (_, k), s in zip(self.components, sigma_per_nucleus)]
        tot = sum(terms)
        return [t / tot for t in terms]


COMPOUNDS: dict[str, Compound] = {
    c.name: c
    for c in [
        Compound("CH", ((TARGETS["C12"], 1), (TARGETS["H1"], 1))),
        Compound("H2O", ((TARGETS["H1"], 2), (TARGETS["O16"], 1))),
    ]
}


def get_compound(name: str) -> Compound:
    """Look a compound up by name (``CH``, ``H2O``; case-insensitive; ``water``, ``polystyrene``)."""
    key = {"water": "H2O", "polystyrene": "CH", "scintillator": "CH"}.get(name.lower(), name)
    for k, c in COMPOUNDS.items():
        if k.lower() == key.lower():
            return c
    raise AivaInputError(f"unknown compound target {name!r}; known compounds: {', '.join(COMPOUNDS)}")


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

#: PDG codes: νμ 14, ν̄μ −14, νe 12, ν̄e −12, e⁻ 11.
PROBES: dict[str, Probe] = {
    "numu": Probe("numu", 14, 13, M_MUON),
    "numubar": Probe("numubar", -14, -13, M_MUON),
    "nue": Probe("nue", 12, 11, M_ELECTRON),
    "nuebar": Probe("nuebar", -12, -11, M_ELECTRON),
    "e": Probe("e", 11, 11, M_ELECTRON),
}


def get_probe(name: str) -> Probe:
    """Look a probe up by name or PDG code (``numu``, ``numubar``, ``nue``, ``nuebar``, ``e``; ``14``, ``-12``, …)."""
    raw = name.strip().lower()
    key = raw if raw.lstrip("-").isdigit() else raw.replace("-", "").replace("_", "")  # keep the sign of a PDG code
    aliases = {"14": "numu", "-14": "numubar", "anumu": "numubar", "numub": "numubar", "11": "e", "electron": "e",
               "12": "nue", "-12": "nuebar", "anue": "nuebar", "nueb": "nuebar"}
    key = aliases.get(key, key)
    if key not in PROBES:
        raise AivaInputError(f"unknown probe {name!r}; known probes: {', '.join(PROBES)}")
    return PROBES[key]
