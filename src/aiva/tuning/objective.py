"""A differentiable flux-folded prediction of a flow in a measurement's binning, and its χ².

**Gradient method: likelihood-ratio reweighting of a fixed prior sample.** Events are drawn once
from the prior model p₀ folded with the measurement's flux, E_ν ~ Φ(E)σ₀(E) and x = (E'_μ, θ') ~
p₀(x | E_ν) (:func:`aiva.models.generate.generate_with_flux`), each of weight ⟨σ₀⟩_Φ/N in
10⁻³⁸ cm² per nucleon. For tuned parameters θ and a smooth cross-section correction
σ_θ(E) = σ₀(E)·exp(s(E)) the same events carry

    w_i(θ) = ⟨σ₀⟩_Φ/N · exp(s(E_i)) · p_θ(x_i | E_i) / p₀(x_i | E_i),

an unbiased importance-sampling estimate of the tuned model's flux-folded cross section in every
region (Owen, *Monte Carlo theory, methods and examples* (2013), ch. 9, Eq. 9.3; the ratio needs
p₀ > 0 wherever p_θ > 0, which a flow, positive everywhere, satisfies). Because the events and
hence their bin assignments are fixed, the binned prediction σ_b(θ) = Σ_{i∈b} w_i(θ) is an exactly
differentiable function of θ — no smoothing of the bin edges is needed, unlike reparameterised
sampling, whose bin counts are step functions of θ. The price is the variance of the weights
when p_θ moves far from p₀; the effective sample size (Σw)²/Σw² (Kong 1992; Owen Eq. 9.13) is
recorded, and the prior penalty keeps it high.

Prediction in a measurement's binning as :func:`aiva.measurements.core.predict_bins`:
σ_b / (Δp_b Δcosθ_b), through the smearing matrix S[reco, true] where the measurement has one.
χ² = rᵀ(C + V_MC)⁻¹r with the full covariance C and the diagonal Monte Carlo variance of the
prior prediction V_MC,b = Σ_{i∈b} w_i² (unit-weight Poisson; fixed at the prior so that the χ²
surface does not reward noisier weights).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import torch

from aiva.errors import AivaInputError
from aiva.measurements.core import Measurement, event_bins, mc_variance

log = logging.getLogger(__name__)


def covariance_sha256(m: Measurement) -> str:
    """SHA-256 of the covariance matrix (float64 bytes, row-major): the provenance of a tune."""
    return hashlib.sha256(np.ascontiguousarray(m.covariance, dtype=np.float64).tobytes()).hexdigest()


def check_for_tuning(m: Measurement) -> None:
    """What a tune needs beyond :func:`aiva.measurements.load_measurement`'s own checks (which
    refuse a covariance that is not symmetric positive definite or whose shape does not match
    the bins): a flux, non-overlapping bins, and a smearing matrix with finite, non-negative
    entries."""
    if not m.meta.get("flux"):
        raise AivaInputError(f"measurement {m.name!r}: measurement.json names no flux ('flux'); a flux-folded "
                             "prediction needs one")
    from aiva.mc.flux import load_flux

    load_flux(m.meta["flux"])  # raises AivaInputError naming the flux
    b = m.bins
    lo_c, hi_c, lo_p, hi_p = (b[:, j][:, None] for j in range(4))
    overlap = (np.minimum(hi_c, hi_c.T) > np.maximum(lo_c, lo_c.T)) & (np.minimum(hi_p, hi_p.T) > np.maximum(lo_p, lo_p.T))
    np.fill_diagonal(overlap, False)
    if overlap.any():
        i, j = np.argwhere(overlap)[0]
        raise AivaInputError(f"measurement {m.name!r}: bins {i} and {j} overlap; the binning is inconsistent")
    if m.smearing is not None and np.any(m.smearing < 0):
        raise AivaInputError(f"measurement {m.name!r}: smearing matrix has negative entries")


class LnEGaussianProcess:
    """A Gaussian process in ln E on a node grid, as a whitened linear basis: the values at
    ``nodes`` equally spaced ln E nodes over [E_min, E_max] have the squared-exponential
    correlation exp(−(ln E_i − ln E_j)²/(2ℓ²)) (Rasmussen & Williams, *Gaussian Processes for
    Machine Learning*, MIT Press 2006, eq. 4.9), the function is linear in ln E between nodes and
    held at the end node's value beyond them. ``basis(E) = H(E) L`` (H the hat functions, L the
    Cholesky factor of the correlation), so f = basis(E) a with a ~ N(0, τ²) has the process's
    prior with variance τ² at the nodes (between nodes the linear interpolation has less: 0.90 τ²
    midway for ℓ = 0.35 on 16 nodes over 0.3–10 GeV)."""

    def __init__(self, emin: float, emax: float, length: float, nodes: int):
        if not (length > 0 and nodes >= 2 and 0 < emin < emax):
            raise AivaInputError(f"Gaussian process in ln E: need length > 0, nodes >= 2 and 0 < E_min < E_max; got "
                                 f"length {length}, nodes {nodes}, range [{emin}, {emax}]")
        self.length, self.nodes = float(length), int(nodes)
        self.node_lnE = np.linspace(np.log(emin), np.log(emax), self.nodes)
        d = self.node_lnE[:, None] - self.node_lnE[None, :]
        corr = np.exp(-0.5 * (d / self.length) ** 2) + 1e-9 * np.eye(self.nodes)  # jitter: positive definite
        self.chol = np.linalg.cholesky(corr)

    def basis(self, E) -> np.ndarray:
        """(N, nodes): hat functions of the nodes at ln E (flat beyond the end nodes) times L."""
        lnE = np.log(np.asarray(E, float))
        H = np.stack([np.interp(lnE, self.node_lnE, np.eye(self.nodes)[j]) for j in range(self.nodes)], axis=-1)
        return H @ self.chol


class SigmaCorrection(torch.nn.Module):
    """σ_θ(E) = σ₀(E)·exp(s(E)), a smooth correction with a Gaussian prior, so that with no data it
    stays σ₀. Two bases (``kind``):

    * ``"legendre"``: s(E) = Σ_{k=0}^{K} a_k P_k(u), u = 2 ln(E/E_min)/ln(E_max/E_min) − 1 (Legendre
      polynomials on the model's energy range), a_k ~ N(0, τ²) (τ = `TuneConfig.xsec_prior`). Global:
      the data at 1 GeV fix s(E) at 8 GeV too.
    * ``"gp"``: a Gaussian process in ln E (Rasmussen & Williams, *Gaussian Processes for Machine
      Learning*, MIT Press 2006, eq. 4.9, the squared-exponential covariance): s at ``nodes``
      equally spaced ln E nodes has covariance τ² exp(−(ln E_i − ln E_j)²/(2ℓ²)) (ℓ = ``length``),
      s(E) is linear in ln E between nodes; parameterised as s = H(E) L a with L the Cholesky factor
      of that correlation and a ~ N(0, τ²) (the same independent prior as the Legendre
      coefficients). Local: inside the model's energy range, where no flux reaches, s(E) returns to
      0 with the prior band τ (beyond the end nodes it is held at the end node's value)."""

    def __init__(self, emin: float, emax: float, degree: int = 3, prior: float = 0.1, kind: str = "legendre",
                 length: float = 0.5, nodes: int = 16):
        super().__init__()
        self.emin, self.emax, self.degree, self.prior = float(emin), float(emax), int(degree), float(prior)
        self.kind, self.length, self.nodes = str(kind), float(length), int(nodes)
        if self.kind not in ("legendre", "gp"):
            raise AivaInputError(f"sigma correction: kind must be 'legendre' or 'gp', not {kind!r}")
        n = self.degree + 1 if self.kind == "legendre" else self.nodes
        self.coef = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
        if self.kind == "gp":
            self.gp = LnEGaussianProcess(self.emin, self.emax, self.length, self.nodes)

    def basis(self, E) -> np.ndarray:
        if self.kind == "gp":
            return self.gp.basis(E)
        lnE = np.log(np.asarray(E, float))
        u = 2 * (lnE - np.log(self.emin)) / np.log(self.emax / self.emin) - 1
        return np.stack([np.polynomial.legendre.Legendre.basis(k)(u) for k in range(self.degree + 1)], axis=-1)

    def describe(self) -> str:
        if self.kind == "gp":
            return (f"Gaussian process in ln E: squared-exponential covariance tau^2 exp(-d^2/(2 l^2)), l = {self.length:g} "
                    f"in ln E, {self.nodes} nodes equally spaced in ln E over [{self.emin:g}, {self.emax:g}] GeV, linear "
                    "between nodes; s = H(E) L a with L the Cholesky factor of the correlation, a ~ N(0, tau^2)")
        return "Legendre P_k(u), u = 2 ln(E/Emin)/ln(Emax/Emin) - 1"

    def log_factor(self, B: torch.Tensor) -> torch.Tensor:
        """s(E) for a precomputed basis B = basis(E) of shape (N, K + 1)."""
        return B @ self.coef

    def penalty(self, centre: torch.Tensor | None = None) -> torch.Tensor:
        """−2 ln prior = Σ ((a_k − a⁰_k)/τ)² (χ² units; a⁰ = 0 unless a perturbed centre is given)."""
        a = self.coef if centre is None else self.coef - centre
        return torch.sum((a / self.prior) ** 2)

    def factor_numpy(self, E) -> np.ndarray:
        return np.exp(self.basis(E) @ self.coef.detach().numpy())


class ShapeCorrection(torch.nn.Module):
    """A smooth reweighting of the lepton kinematics, the data-driven counterpart of a generator's
    axial-mass dials (e.g. NEUT/GENIE's M_A^QE and M_A^RES reweighting, which change the Q² shape
    of the quasielastic-like and the inelastic events separately):

        ln w(Q², W) = Σ_{l=1}^{L} P_l(u) [b_l q(W) + c_l (1 − q(W))] + d (1 − q(W)),

    u = 2 tanh(Q²/Q₀²) − 1 (Q₀² = 0.5 GeV²), q(W) = 1/(1 + exp((W − 1.08 GeV)/0.03 GeV)) the
    quasielastic-like share (W below the Nπ threshold; W² < 0, possible for bound nucleons, counts
    as quasielastic-like), Q² and W from (E_ν, E_μ, θ_μ) with the nucleon at rest
    (:func:`aiva.physics.kinematics.lepton_kinematics`). Gaussian prior N(0, τ²) on the 2L + 1
    coefficients; L = 0 switches it off.

    Local in E_ν (``local_length`` ℓ > 0): each of the 2L + 1 coefficients becomes a function of
    ln E_ν, a Gaussian process (:class:`LnEGaussianProcess`, ``local_nodes`` nodes over
    [E_min, E_max], correlation length ℓ) with the same prior σ τ at every node (a little less
    between nodes, where it is interpolated linearly): where the data
    reach, the dials move as before; at energies no flux reaches they return to 0 with their prior
    band, as the σ(E) process does. ℓ → ∞ is the global dial (the coefficients' values at every
    node fully correlated). The dials of the generators (M_A^QE, M_A^RES) are global in E; a local
    one is the energy-dependent effective M_A that the data of experiments at different energies
    ask for (cf. the MiniBooNE and NOMAD quasielastic fits, 1.35 against 1.05 GeV).

    Shape only, to first order: with :meth:`fit_centre` each basis function has its mean under the
    prior at fixed E_ν subtracted (tabulated in ln E_ν on a uniform-E_ν prior sample, linearly
    interpolated), so ln w averages to 0 at every energy and a change of normalisation is left to
    σ(E) — the dials are "shape" dials, as GENIE's MaCCQEshape is. σ(E_ν) still changes at second
    order, by Z(E) = E[w | E_ν], which the tuned card includes;
    :meth:`aiva.tuning.Tuner.tuned_model` projects the reweighting into the flow."""

    W_CUT, W_WIDTH, Q0SQ = 1.08, 0.03, 0.5

    def __init__(self, degree: int = 0, prior: float = 0.3, local_length: float = 0.0, local_nodes: int = 12,
                 emin: float = 0.3, emax: float = 10.0):
        super().__init__()
        self.degree, self.prior = int(degree), float(prior)
        n = 2 * self.degree + 1 if self.degree > 0 else 0
        self.gp = LnEGaussianProcess(emin, emax, local_length, local_nodes) if local_length > 0 and n else None
        self.coef = torch.nn.Parameter(torch.zeros(n * (self.gp.nodes if self.gp else 1), dtype=torch.float64))
        self.centre_lnE: np.ndarray | None = None  #: ln E_ν nodes of the centring table
        self.centre_table: np.ndarray | None = None  #: (nodes, 2L + 1) prior means of the basis

    def fit_centre(self, enu, elep, costh, m_lep: float, nodes: int = 24) -> np.ndarray:
        """Tabulate the prior mean of each basis function in ``nodes`` bins of ln E_ν from a
        sample uniform in E_ν (empty bins are skipped); returns the sample's centred basis."""
        if self.degree == 0:
            return self.basis(enu, elep, costh, m_lep)
        self.centre_lnE, self.centre_table = None, None
        B = self._dials(enu, elep, costh, m_lep)
        ln = np.log(np.asarray(enu, float))
        edges = np.linspace(ln.min(), ln.max() + 1e-12, nodes + 1)
        k = np.clip(np.searchsorted(edges, ln, side="right") - 1, 0, nodes - 1)
        cnt = np.bincount(k, minlength=nodes)
        means = np.stack([np.bincount(k, weights=B[:, j], minlength=nodes) for j in range(B.shape[1])], axis=1)
        ok = cnt > 0
        mid = 0.5 * (edges[:-1] + edges[1:])
        self.centre_lnE = mid[ok]
        self.centre_table = means[ok] / cnt[ok, None]
        return self._expand(enu, B - self.centre(enu))

    def centre(self, enu) -> np.ndarray:
        """The tabulated prior means of the basis at ``enu`` (linear in ln E_ν, flat beyond the nodes)."""
        if self.centre_lnE is None or self.centre_table is None:
            raise AivaInputError("shape correction: no centring table (fit_centre first)")
        ln = np.log(np.asarray(enu, float))
        return np.column_stack([np.interp(ln, self.centre_lnE, self.centre_table[:, j])
                                for j in range(self.centre_table.shape[1])])

    def basis(self, enu, elep, costh, m_lep: float) -> np.ndarray:
        """(N, number of coefficients): the centred dial functions (once :meth:`fit_centre` has
        run), times the Gaussian process's basis in ln E_ν when local."""
        B = self._dials(enu, elep, costh, m_lep)
        if self.centre_table is not None:
            B = B - self.centre(enu)
        return self._expand(enu, B)

    def _expand(self, enu, B: np.ndarray) -> np.ndarray:
        """Local: column (k, j) = B_k · G_j(E_ν), G = the process's basis; global: B."""
        if self.gp is None or B.shape[1] == 0:
            return B
        G = self.gp.basis(enu)
        return (B[:, :, None] * G[:, None, :]).reshape(len(B), -1)

    def _dials(self, enu, elep, costh, m_lep: float) -> np.ndarray:
        """(N, 2L + 1): P_l(u) q(W), P_l(u) (1 − q(W)) for l = 1..L, then 1 − q(W); not centred."""
        from aiva.physics.kinematics import lepton_kinematics

        n = len(np.atleast_1d(enu))
        if self.degree == 0:
            return np.zeros((n, 0))
        k = lepton_kinematics(np.asarray(enu, float), np.asarray(elep, float), np.asarray(costh, float), m_lep=m_lep)
        u = 2 * np.tanh(np.maximum(k["Q2"], 0.0) / self.Q0SQ) - 1
        W = np.nan_to_num(k["W"], nan=0.0)
        q = 1.0 / (1.0 + np.exp(np.clip((W - self.W_CUT) / self.W_WIDTH, -50, 50)))
        cols = []
        for ell in range(1, self.degree + 1):
            P = np.polynomial.legendre.Legendre.basis(ell)(u)
            cols += [P * q, P * (1 - q)]
        cols.append(1 - q)
        return np.column_stack(cols)

    def describe(self) -> dict:
        return {"centre_lnE": None if self.centre_lnE is None else self.centre_lnE.tolist(),
                "centre_table": None if self.centre_table is None else self.centre_table.tolist()}

    def describe_locality(self) -> dict:
        """How the dials depend on E_ν (for the tuned card)."""
        if self.gp is None:
            return {"kind": "global", "what": "one value of each coefficient at every E_nu"}
        a = self.coef.detach().numpy().reshape(-1, self.gp.nodes)
        return {"kind": "gp", "length_lnE": self.gp.length, "nodes_lnE": self.gp.node_lnE.tolist(),
                "dial_values_at_nodes": (a @ self.gp.chol.T).tolist(),
                "what": "each dial a Gaussian process in ln E_nu (squared-exponential, prior sigma tau at the nodes), "
                        "linear between nodes; the coefficients are whitened, ordered (dial, node-basis column); "
                        "dial_values_at_nodes[k][j] = the value of dial k at node j"}

    def log_factor(self, B: torch.Tensor) -> torch.Tensor:
        return B @ self.coef

    def penalty(self, centre: torch.Tensor | None = None) -> torch.Tensor:
        a = self.coef if centre is None else self.coef - centre
        return torch.sum((a / self.prior) ** 2)


class CachedFlowLogProb:
    """ln p_θ(x | E'_ν) of a zuko flow whose first transforms are frozen: their outputs and
    log-Jacobians on the fixed events are computed once, so each step costs only the trained
    transforms (change of variables, Papamakarios et al., JMLR 22 (2021) 57, Eq. 2)."""

    def __init__(self, net, x: torch.Tensor, e: torch.Tensor, trainable: int):
        ts = list(net.flow.transform.transforms)
        if not 0 <= trainable <= len(ts):
            raise AivaInputError(f"trainable transforms: need 0..{len(ts)} (0: only the sigma(E) correction), "
                                 f"got {trainable}")
        self.net, self.e = net, e
        self.frozen, self.train = ts[: len(ts) - trainable], ts[len(ts) - trainable:]
        with torch.no_grad():
            y, ladj = x, torch.zeros(len(x), dtype=x.dtype)
            for t in self.frozen:
                y, la = t(e).call_and_ladj(y)
                ladj = ladj + la
        self.y, self.ladj0 = y, ladj

    def __call__(self) -> torch.Tensor:
        y, ladj = self.y, self.ladj0
        for t in self.train:
            y, la = t(self.e).call_and_ladj(y)
            ladj = ladj + la
        return (self.net.flow.base(self.e).log_prob(y) + ladj).double()


@dataclass
class BinnedTarget:
    """A measurement with its fixed prior sample, ready for differentiable predictions."""

    measurement: Measurement
    enu: np.ndarray  #: (N,) GeV
    x: torch.Tensor  #: (N, 2) proxies (E'_μ, θ')
    e: torch.Tensor  #: (N, 1) E'_ν
    idx: torch.Tensor  #: (N,) true bin, n_bins for events outside every bin
    base_w: torch.Tensor  #: (N,) prior weights, 10⁻³⁸ cm²/nucleon
    B: torch.Tensor  #: (N, K+1) σ-correction basis at E_i
    Bs: torch.Tensor  #: (N, K_s) shape-correction basis: 2L+1 dials, × nodes when local; (N, 0) when off
    data: torch.Tensor
    cov: np.ndarray  #: C + V_MC
    smear: torch.Tensor | None
    widths: torch.Tensor
    flux_removed: float
    flux: dict

    @property
    def n_bins(self) -> int:
        return len(self.measurement.values)

    def predict(self, log_ratio: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Differential prediction per bin for per-event ln(p_θ/p₀) and s(E_i)."""
        w = self.base_w * torch.exp(log_ratio + s)
        sig = torch.zeros(self.n_bins + 1, dtype=w.dtype).index_add_(0, self.idx, w)[: self.n_bins]
        if self.smear is not None:
            sig = self.smear @ sig
        return sig / self.widths


def prepare_target(net, card: dict, m: Measurement, n_events: int, seed: int, corr: SigmaCorrection,
                   shape: ShapeCorrection | None = None) -> BinnedTarget:
    """Draw the fixed flux-folded prior sample of a measurement (flux restricted to the model's
    trained range; the prediction stays normalised to the whole flux, as ``aiva predict`` does with
    ``--flux-range``) and bin it."""
    from aiva.measurements.run import flux_folded_events
    from aiva.models.base import energy_range

    check_for_tuning(m)
    if card.get("target") != m.meta.get("target") or card.get("probe") != m.meta.get("probe"):
        raise AivaInputError(f"model {card.get('name')!r} is {card.get('probe')} on {card.get('target')} but measurement "
                             f"{m.name!r} is {m.meta.get('probe')} on {m.meta.get('target')}")
    ev, fx, removed = flux_folded_events(net, card, m.meta["flux"], n_events, seed, flux_range=energy_range(card))
    idx = event_bins(ev, m)
    n = len(m.values)
    w0 = ev["weight"]
    e, x1, x2 = ev.proxies()
    S = m.smearing
    var = mc_variance(ev, m, idx)
    return BinnedTarget(m, np.asarray(ev["Enu_true"], float),
                        torch.as_tensor(np.column_stack([x1, x2]), dtype=torch.float64),
                        torch.as_tensor(e, dtype=torch.float64).reshape(-1, 1),
                        torch.as_tensor(np.where(idx < 0, n, idx)), torch.as_tensor(w0, dtype=torch.float64),
                        torch.as_tensor(corr.basis(ev["Enu_true"]), dtype=torch.float64),
                        torch.as_tensor((shape or ShapeCorrection(0)).basis(ev["Enu_true"], ev["ELep"], ev["CosLep"],
                                                                            lepton_mass(card)), dtype=torch.float64),
                        torch.as_tensor(m.values, dtype=torch.float64), m.covariance + np.diag(var),
                        None if S is None else torch.as_tensor(S, dtype=torch.float64),
                        torch.as_tensor(m.widths, dtype=torch.float64), float(removed), fx.describe())


def lepton_mass(card: dict) -> float:
    """The charged lepton's mass [GeV] of a model's probe."""
    from aiva.physics.targets import get_probe

    return float(get_probe(card.get("probe", "numu")).lepton_mass)


def chi2_torch(r: torch.Tensor, cinv: torch.Tensor) -> torch.Tensor:
    return r @ (cinv @ r)


def chi2_numpy(r: np.ndarray, cov: np.ndarray) -> float:
    """rᵀC⁻¹r by a Cholesky solve."""
    from scipy.linalg import cho_factor, cho_solve

    return float(r @ cho_solve(cho_factor(cov), r))


def effective_sample_size(log_ratio: np.ndarray) -> float:
    """(Σw)²/Σw² of the likelihood-ratio weights w = exp(log_ratio) (Owen 2013, Eq. 9.13)."""
    a = np.asarray(log_ratio) - np.max(log_ratio)
    w = np.exp(a)
    return float(w.sum() ** 2 / np.sum(w * w))
