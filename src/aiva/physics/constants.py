"""Physical constants used throughout aiva.

Units: GeV for energies, momenta and masses; GeV⁻² for couplings; angles in radians.
Values are from the Review of Particle Physics, S. Navas et al. (Particle Data Group),
Phys. Rev. D 110 (2024) 030001 ("PDG 2024") unless stated otherwise.
"""
from __future__ import annotations

import math

# --- masses (PDG 2024) -------------------------------------------------------------------
M_PROTON = 0.93827208816  # GeV
M_NEUTRON = 0.93956542052  # GeV
#: Average nucleon mass, used for W and x from the lepton alone (PRD 112 (2025) 013007, eqs. 5–6).
M_NUCLEON = 0.5 * (M_PROTON + M_NEUTRON)
M_MUON = 0.1056583755  # GeV
M_ELECTRON = 0.51099895000e-3  # GeV
M_PION_CHARGED = 0.13957039  # GeV
M_PION_NEUTRAL = 0.1349768  # GeV
M_PION = M_PION_CHARGED
#: Δ(1232) Breit–Wigner mass and width (PDG 2024: 1230–1234 MeV, Γ = 114–120 MeV).
M_DELTA = 1.232  # GeV
GAMMA_DELTA = 0.117  # GeV

# --- couplings ---------------------------------------------------------------------------
#: Fermi constant G_F/(ħc)³ (PDG 2024).
G_FERMI = 1.1663788e-5  # GeV^-2
#: |V_ud| = cos θ_C (PDG 2024, CKM review: 0.97367 ± 0.00032).
COS_CABIBBO = 0.97367
#: Fine-structure constant (CODATA 2018).
ALPHA_EM = 1.0 / 137.035999084
#: Nucleon axial coupling g_A = G_A/G_V (PDG 2024: −1.2754 ± 0.0013; the issue and the
#: generator literature use −1.2723 from PDG 2018, which we keep as the default).
G_AXIAL = -1.2723
#: Proton and neutron magnetic moments in nuclear magnetons (CODATA 2018).
MU_PROTON = 2.7928473446
MU_NEUTRON = -1.9130427
#: Vector dipole mass squared, M_V² = 0.71 GeV² (standard dipole fit).
M_V2 = 0.71  # GeV^2

# --- conversions -------------------------------------------------------------------------
#: (ħc)² = 0.3893793721 GeV² mb (PDG 2024) → 1 GeV⁻² = 0.3893793721e-27 cm².
HBARC2_GEV2_CM2 = 0.3893793721e-27  # cm^2 GeV^2
#: 1 GeV⁻² expressed in units of 10⁻³⁸ cm².
GEV2_TO_1E38CM2 = HBARC2_GEV2_CM2 / 1e-38
#: ħc in GeV·fm (PDG 2024).
HBARC_GEV_FM = 0.1973269804

PI = math.pi

#: Atomic mass unit [GeV] (CODATA 2018, 931.49410242 MeV).
ATOMIC_MASS_UNIT = 0.93149410242
