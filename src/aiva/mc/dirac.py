"""Numerical Dirac algebra for hadronic and leptonic tensors (vectorised with NumPy).

Metric g = diag(+1, −1, −1, −1); Dirac representation; γ5 = iγ⁰γ¹γ²γ³; four-vectors are
contravariant arrays (..., 4). Used to build the N→Δ hadronic tensor from its vertex and the
Rarita–Schwinger spin sum, and (in the tests) to check the closed-form Llewellyn Smith formula.
"""
from __future__ import annotations

import numpy as np

METRIC = np.array([1.0, -1.0, -1.0, -1.0])
_I2 = np.eye(2)
_Z2 = np.zeros((2, 2))
_SIGMA = [np.array([[0, 1], [1, 0]], complex), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]], complex)]
GAMMA = np.array(
    [np.block([[_I2, _Z2], [_Z2, -_I2]]).astype(complex)]
    + [np.block([[_Z2, s], [-s, _Z2]]) for s in _SIGMA]
)  # (4, 4, 4): GAMMA[mu] = γ^mu
GAMMA5 = 1j * GAMMA[0] @ GAMMA[1] @ GAMMA[2] @ GAMMA[3]
ID4 = np.eye(4, dtype=complex)


def dot(a, b):
    return a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1] - a[..., 2] * b[..., 2] - a[..., 3] * b[..., 3]


def slash(v):
    """v̸ = γ^μ v_μ for v of shape (N, 4) → (N, 4, 4)."""
    return np.einsum("m,nm,mij->nij", METRIC, v, GAMMA)


def bar(G):
    """Dirac adjoint γ⁰ G† γ⁰ of matrices G (..., 4, 4)."""
    return GAMMA[0] @ np.conj(np.swapaxes(G, -1, -2)) @ GAMMA[0]


def lepton_tensor_trace(k, kp, m_l: float, antineutrino: bool):
    """L^{μν} by explicit traces (reference implementation, slow): (N, 4, 4) complex.

    ν:  Tr[(k̸' + m) γ^μ (1 − γ5) k̸ (1 + γ5) γ^ν];  ν̄: Tr[k̸ γ^μ (1 − γ5)(k̸' − m)(1 + γ5) γ^ν].
    """
    PL, PR = ID4 - GAMMA5, ID4 + GAMMA5
    ks, kps = slash(k), slash(kp)
    if antineutrino:
        left, mid = ks, kps - m_l * ID4
    else:
        left, mid = kps + m_l * ID4, ks
    return np.einsum("nij,ajk,kl,nlm,mp,bpi->nab", left, GAMMA, PL, mid, PR, GAMMA)


def lepton_tensor(k, kp, antineutrino: bool):
    """L^{μν} in closed form: 8[k'^μ k^ν + k^μ k'^ν − g^{μν} k·k' + s i ε^{μναβ} k_α k'_β].

    with ε^{0123} = +1, s = +1 for ν and −1 for ν̄ (checked against the explicit trace
    ``lepton_tensor_trace`` in the tests). The lepton mass drops out of L.
    """
    kl = k * METRIC
    kpl = kp * METRIC
    kk = dot(k, kp)
    L = 8 * (np.einsum("na,nb->nab", kp, k) + np.einsum("na,nb->nab", k, kp)
             - np.einsum("ab,n->nab", np.diag(METRIC), kk)).astype(complex)
    eps = _levi_civita()
    anti = np.einsum("abcd,nc,nd->nab", eps, kl, kpl)
    s = -1.0 if antineutrino else 1.0
    return L + s * 8j * anti


_EPS = None


def _levi_civita():
    """ε^{μνα β} with ε^{0123} = +1."""
    global _EPS
    if _EPS is None:
        import itertools

        e = np.zeros((4, 4, 4, 4))
        for perm in itertools.permutations(range(4)):
            inv = sum(1 for i in range(4) for j in range(i + 1, 4) if perm[i] > perm[j])
            e[perm] = -1.0 if inv % 2 else 1.0
        _EPS = e
    return _EPS


def contract(L, H):
    """L_{μν} H^{μν} (both given with upper indices): real part of the sum."""
    g = np.outer(METRIC, METRIC)
    return np.real(np.einsum("nab,ab,nab->n", L, g, H))
