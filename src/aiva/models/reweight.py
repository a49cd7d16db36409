"""Reweighting events between two flow models (or mixtures of flows) with their exact likelihoods.

For events x = (E'_μ, θ') at E_ν drawn from model 1, w = p₂(x | E_ν) / p₁(x | E_ν) makes
weighted histograms of model-1 events estimate model-2 distributions (importance sampling).
Both densities are taken in the same proxy variables, so the Jacobian to (E_μ, cos θ) cancels.
The ratio is exact only where p₁ > 0 covers p₂; the largest weights are reported so a user can
see when it does not.
"""
from __future__ import annotations

import logging
import numpy as np
import torch

from aiva.errors import AivaInputError
from aiva.events.table import EventTable

log = logging.getLogger(__name__)


def log_prob(model, table: EventTable, batch: int = 65_536) -> np.ndarray:
    """ln p(E'_μ, θ' | E_ν) of a flow (or mixture of flows) for the events of a table."""
    if not getattr(model, "has_likelihood", False):
        family = getattr(model, "family", type(model).__name__)
        if family == "mixture":
            family = f"mixture of {model.config.family}"
        raise AivaInputError(f"reweighting needs a model with a likelihood (a flow or a mixture of flows), "
                             f"not {family!r}")
    e, x1, x2 = table.proxies()
    X = torch.as_tensor(np.column_stack([x1, x2]), dtype=torch.float64)
    C = torch.as_tensor(e, dtype=torch.float64).reshape(-1, 1)
    model.double().eval()
    out = np.empty(len(X))
    with torch.inference_mode():
        for i in range(0, len(X), batch):
            out[i:i + batch] = model.log_prob(X[i:i + batch], C[i:i + batch]).numpy()
    model.float()
    return out


def likelihood_ratio(model_from, model_to, table: EventTable) -> np.ndarray:
    return np.exp(log_prob(model_to, table) - log_prob(model_from, table))


def reweight_file(*, events, model_from: str, model_to: str, output) -> EventTable:
    from aiva.events import read_events, write_events
    from aiva.models.io import load_model

    t = read_events(events)
    m1, c1 = load_model(model_from)
    m2, c2 = load_model(model_to)
    for key in ("target", "probe"):
        if c1.get(key) != c2.get(key):
            raise AivaInputError(f"models differ in {key}: {c1.get(key)!r} vs {c2.get(key)!r}")
    r = likelihood_ratio(m1, m2, t)
    w0 = t["weight"] if "weight" in t.columns else np.ones(len(t))
    t.columns["weight"] = w0 * r
    t.metadata["reweighted"] = {"from": c1.get("name"), "to": c2.get("name"), "max_ratio": float(r.max()),
                                "mean_ratio": float(r.mean())}
    path = write_events(t, output)
    log.info(f"reweighted {len(t)} events from {c1.get('name')} to {c2.get('name')}: mean ratio {r.mean():.4f} "
          f"(1 expected for events drawn from the first model), largest {r.max():.3g}; wrote {path}")
    return t
