"""What every kind of registered model shares in ``aiva update``: the update settings and the
recorded decision (promoted with a new version, or rejected with the reason), see
:mod:`aiva.registry.update` for the procedure and :mod:`aiva.registry.rules_generator`,
:mod:`aiva.registry.rules_escat` for the evidence each kind must give."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path


from aiva.registry.store import Registry
from aiva.utils import ConfigMixin

log = logging.getLogger(__name__)


@dataclass
class UpdateConfig(ConfigMixin):
    holdout: float = 0.2
    epochs: int | None = None
    freeze: str = "default"
    seed: int = 1
    n_sigma: float = 2.0
    forgetting_tolerance: float = 0.05
    forgetting_nats: float = 0.005  #: flows: allowed loss of held-out log-likelihood per event
    physics_tolerance: float = 0.01
    bootstrap: int = 40
    gen_factor: int = 10
    val_events: int = 20_000
    physics_events: int = 20_000
    train_config: str | None = None  #: TOML with a [training] table for the fine-tuning
    #: flows: allowed loss of mean log-likelihood per event on the lineage reference (the
    #: regenerable held-out sample of the first version's training distribution,
    #: :mod:`aiva.registry.lineage`); None: no lineage-reference check
    reference_nats: float | None = 0.005
    #: ``--measurement`` updates (:mod:`aiva.registry.rules_measurement`): cross-validation blocks,
    #: the held-out χ² drop required, and the tune's settings (None: :class:`aiva.tuning.TuneConfig`'s)
    cv_blocks: int = 3
    chi2_gain: float = 4.0
    tune_steps: int | None = None
    tune_events: int | None = None
    tune_shape_degree: int | None = None  #: the Q²-shape correction's degree (0: σ(E) only)


def _decide(registry: Registry, name: str, record: dict, progress: bool, *, why: str | None = None,
            new_version: str | None = None, summary: str = "", **evidence) -> dict:
    """Record a decision (rejected when ``why`` is given, else promoted) in the log and say it."""
    if why is not None:
        record.update({"decision": "rejected", "reason": why, **evidence})
        msg = f"rejected, {record['current']} stays current: {why}"
    else:
        record.update({"decision": "promoted", "new_version": new_version, **evidence})
        msg = f"promoted {new_version} (parent {record['current']}): {summary}"
    registry._append_log(name, record)
    if progress:
        log.info(f"{name}: {Path(record['data']).name} {msg}")
    return record
