"""A sampling path for the two-variable neural spline flow that does only the needed arithmetic.

The flow (:mod:`aiva.models.flow`, zuko's ``NSF``) is a stack of masked autoregressive
transforms over the two proxies, each a monotonic rational-quadratic spline (Durkan et al.,
arXiv:1906.04032, Sec. 3.1; the inverse in App. A) whose 3K − 1 parameters per feature
come from a masked MLP (MADE, Germain et al., arXiv:1502.03509). zuko inverts a transform
generically: it runs the whole MLP once per feature (twice here), and each time computes both
features' spline parameters and inverts both splines, keeping one. This module does the same
mathematics once:

* **first feature** of a transform (the one that sees only E'_ν): its parameters depend only on
  the MLP's context-only hidden units (half of each hidden layer with zuko's MADE degrees),
  so only those units and that feature's 3K − 1 outputs are computed;
* **second feature**: the context-only hidden units are reused, only the units that see the first
  feature are added, and only the second feature's outputs are computed;
* the spline inverse of one feature: one soft bound, e^v of both knot sets, their cumulative sums
  as row additions normalised by the last one (a softmax), one bin search and one gather of the six
  knot values (x_k, x_{k+1}, y_k, y_{k+1}, δ_k, δ_{k+1}), all in parameter-major layout (rows of N
  events).

About 60 kFLOP per event instead of zuko's 165 kFLOP (``benchmarks/speed.py``). The weights are
a snapshot of the flow's at construction (inference only: no gradient reaches the flow). Results
agree with zuko's inverse to float32 rounding (``tests/test_fastspline.py``); outside the
spline's [−B, B] box the transform is the identity, as in zuko.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def soft_bound_scale(bins: int, slope: float) -> torch.Tensor:
    """(3K − 1, 1): zuko's soft bound v / (1 + |v · scale|) has scale 2/ln s for the widths and
    heights and 1/ln s for the derivatives."""
    ls = math.log(slope)
    return torch.tensor([2 / ls] * (2 * bins) + [1 / ls] * (bins - 1), dtype=torch.float64)[:, None]


def rqs_inverse(y: torch.Tensor, phi: torch.Tensor, bins: int, bound: float, scale: torch.Tensor) -> torch.Tensor:
    """Inverse of zuko's ``MonotonicRQSTransform`` for one feature: y of shape (N,), the raw
    parameters phi of shape (3K − 1, N) (parameter-major: each row contiguous), laid out as
    (widths K, heights K, derivatives K − 1). zuko's soft bound (``scale``: :func:`soft_bound_scale`),
    softmax widths and heights on [−B, B], derivatives e^v with 1 at both ends; the inverse is the
    root of a quadratic in the bin's fraction (Durkan et al., arXiv:1906.04032, App. A), in zuko's
    numerically stable form."""
    K = bins
    n = y.shape[0]
    phi = phi / (1 + torch.abs(phi * scale))
    # the soft bound keeps |v| < |ln s|/2 for widths and heights, so the softmax needs no max
    # subtraction: p_j = e^{v_j} / Σ e^v, and the knots are B (2 Σ_{j<i} e^{v_j} / Σ e^v − 1)
    ew = torch.exp(phi[:2 * K]).view(2, K, n)
    # knots (3, K + 1, N): horizontal, vertical (the cumulative sums as K row additions: faster
    # here than torch.cumsum over a leading axis or a triangular product), derivatives
    knots = torch.empty(3, K + 1, n, dtype=y.dtype, device=y.device)
    knots[:2, 0] = 0.0
    for j in range(K):
        torch.add(knots[:2, j], ew[:, j], out=knots[:2, j + 1])
    knots[:2].mul_((2 * bound) / knots[:2, K:]).sub_(bound)
    knots[2, 0] = 1.0
    knots[2, K] = 1.0
    torch.exp(phi[2 * K:], out=knots[2, 1:K])
    k = (knots[1] < y).sum(0) - 1
    inside = (k >= 0) & (k < K)
    k = torch.remainder(k, K)
    g = knots.gather(1, torch.stack((k, k + 1))[None].expand(3, 2, n))  # (3, 2, N)
    x0, x1, y0, y1, d0, d1 = g[0, 0], g[0, 1], g[1, 0], g[1, 1], g[2, 0], g[2, 1]
    dy = y1 - y0
    s = dy / (x1 - x0)
    yr = torch.where(inside, y - y0, 0.0)
    dd = d0 + d1 - 2 * s
    a = dy * (s - d0) + yr * dd
    b = dy * d0 - yr * dd
    c = -s * yr
    xi = 2 * c / (-b - torch.sqrt(b * b - 4 * a * c))
    return torch.where(inside, x0 + xi * (x1 - x0), y)


class _Transform(nn.Module):
    """One autoregressive transform's MLP cut into the two passes of its inverse. Hidden units
    are reordered, context-only units first, so that each layer is one (units, N) buffer whose
    first rows the first pass fills and the second pass completes."""

    def __init__(self, t):
        super().__init__()
        features = 2
        lin = [m for m in t.hyper if isinstance(m, nn.Linear)]
        acts = [m for m in t.hyper if not isinstance(m, nn.Linear)]
        if len(lin) < 2 or len(acts) != len(lin) - 1 or not all(isinstance(a, nn.ReLU) for a in acts):
            raise ValueError("fast sampler: expects two features and a masked MLP with ReLU hidden layers")
        masks: list[torch.Tensor] = [m.get_buffer("mask") for m in lin]
        W = [(mk * m.weight).detach() for mk, m in zip(masks, lin)]
        b = [m.bias.detach() for m in lin]
        M = [mk.bool() for mk in masks]
        total = W[-1].shape[0] // features
        if getattr(t, "order", None) is None:
            raise ValueError("fast sampler: the transform has no feature order (built from an adjacency matrix)")
        order = t.order.tolist()
        self.first, self.second = order.index(0), order.index(1)
        rows = [torch.arange(f * total, (f + 1) * total) for f in range(features)]
        # backwards from the first feature's outputs: the hidden units it depends on
        c = [M[-1][rows[self.first]].any(0)]
        for m in reversed(M[1:-1]):
            c.insert(0, m[c[0]].any(0))
        if M[0][c[0]][:, :features].any() or M[0][:, self.second].any():
            raise ValueError("fast sampler: the masks are not those of a two-feature MADE")
        perm = [torch.cat((ci.nonzero()[:, 0], (~ci).nonzero()[:, 0])) for ci in c]
        self.nc = [int(ci.sum()) for ci in c]
        ctx = slice(features, None)
        Wp = [W[0][perm[0]]] + [W[k][perm[k]][:, perm[k - 1]] for k in range(1, len(W) - 1)] + [W[-1][:, perm[-1]]]
        bp = [b[k][perm[k]] for k in range(len(W) - 1)]
        wc, bc, wx, bx = [], [], [], []
        for k in range(len(W) - 1):
            n = self.nc[k]
            wc.append(Wp[k][:n, ctx] if k == 0 else Wp[k][:n, :self.nc[k - 1]])
            bc.append(bp[k][:n, None])
            # second pass: from (x_first, context) in the first layer, from the whole layer below after
            wx.append(torch.cat((Wp[0][n:, self.first:self.first + 1], Wp[0][n:, ctx]), 1) if k == 0 else Wp[k][n:])
            bx.append(bp[k][n:, None])
        def par(ts):
            return nn.ParameterList(nn.Parameter(t.contiguous().clone(), requires_grad=False) for t in ts)

        self.wc, self.bc, self.wx, self.bx = par(wc), par(bc), par(wx), par(bx)
        self.w_first, self.b_first, self.w_second, self.b_second = par(
            [Wp[-1][rows[self.first]][:, :self.nc[-1]], b[-1][rows[self.first]][:, None],
             Wp[-1][rows[self.second]], b[-1][rows[self.second]][:, None]])
        self.units = [w.shape[0] for w in Wp[:-1]]

    def inverse(self, x: list, e: torch.Tensor, bins: int, bound: float, scale: torch.Tensor) -> list:
        """x: the two features' (N,) tensors; e: (1, N)."""
        n = e.shape[1]
        hs = [torch.empty(u, n, dtype=e.dtype, device=e.device) for u in self.units]
        inp = e
        for k, h in enumerate(hs):  # first pass: context-only units
            torch.addmm(self.bc[k], self.wc[k], inp, out=h[:self.nc[k]]).relu_()
            inp = h[:self.nc[k]]
        xf = rqs_inverse(x[self.first], torch.addmm(self.b_first, self.w_first, inp), bins, bound, scale)
        inp = torch.cat((xf[None], e))
        for k, h in enumerate(hs):  # second pass: the units that see x_first
            torch.addmm(self.bx[k], self.wx[k], inp, out=h[self.nc[k]:]).relu_()
            inp = h
        xs = rqs_inverse(x[self.second], torch.addmm(self.b_second, self.w_second, inp), bins, bound, scale)
        return [xf, xs] if self.first == 0 else [xs, xf]


class FastSplineSampler(nn.Module):
    """(z, E'_ν) → proxies through a snapshot of a zuko ``NSF`` of two features (see the module).
    Raises ``ValueError`` for a flow of another structure (the caller falls back to zuko)."""

    latent_dim = 2

    def __init__(self, nsf):
        import inspect

        from zuko.transforms import MonotonicRQSTransform

        super().__init__()
        ts = list(nsf.transform.transforms)
        uni = {getattr(t, "univariate", None) for t in ts}
        u = uni.pop() if len(uni) == 1 else None
        if u is None or getattr(u, "func", None) is not MonotonicRQSTransform:
            raise ValueError("fast sampler: expects masked autoregressive rational-quadratic spline transforms")
        defaults = {k: v.default for k, v in inspect.signature(MonotonicRQSTransform).parameters.items()}
        self.bound = float(u.keywords.get("bound", defaults["bound"]))
        self.slope = float(u.keywords.get("slope", defaults["slope"]))
        shapes = [tuple(s) for s in ts[0].shapes]
        self.bins = shapes[0][0]
        if shapes != [(self.bins,), (self.bins,), (self.bins - 1,)]:
            raise ValueError(f"fast sampler: unexpected spline parameter shapes {shapes}")
        self.transforms = nn.ModuleList(_Transform(t) for t in ts)
        # kept in float64 (not a buffer that .to() would round) and cast once per call
        self.scale = soft_bound_scale(self.bins, self.slope)

    def forward(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        x = [z[:, 0].contiguous(), z[:, 1].contiguous()]
        e = e.reshape(1, -1)
        scale = self.scale.to(device=z.device, dtype=z.dtype)
        for t in reversed(self.transforms):
            x = t.inverse(x, e, self.bins, self.bound, scale)
        return torch.stack(x, 1)
