"""``aiva update``: new data in, a fine-tuned candidate out, promoted only on held-out evidence.

The rules each kind of model must satisfy live in their own modules:
:mod:`aiva.registry.rules_generator` (event files for generators: held-out MAP or
log-likelihood, forgetting on the lineage's earlier held-out sets, physics limits, theory
constraints) and :mod:`aiva.registry.rules_escat` (cross-section tables for electron-scattering
models: held-out χ²); published measurements go to :mod:`aiva.registry.rules_measurement` (a
tune, :mod:`aiva.tuning`, judged by cross-validated held-out χ²). This module dispatches by the
registered model's kind and watches folders.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from aiva.errors import AivaInputError
from aiva.registry.decision import UpdateConfig
from aiva.registry.rules_escat import update_escat
from aiva.registry.rules_generator import PHYSICS_ENERGIES, QUANTITIES, load_constraints, update_generator
from aiva.registry.store import Registry

log = logging.getLogger(__name__)

__all__ = ["PHYSICS_ENERGIES", "QUANTITIES", "UpdateConfig", "load_constraints", "update", "watch"]


def update(*, registry: Registry, name: str, data=None, constraints=None, config: UpdateConfig | None = None,
           progress: bool = True, measurements=None) -> dict:
    """Process one data file for model ``name`` by the rules of its kind, or tune it to published
    ``measurements`` (:mod:`aiva.registry.rules_measurement`); returns the decision record (also logged)."""
    cfg = config or UpdateConfig()
    if measurements:
        from aiva.registry.rules_measurement import update_measurement

        return update_measurement(registry=registry, name=name, measurements=list(measurements),
                                  constraints=constraints, config=cfg, progress=progress)
    if data is None:
        raise AivaInputError("aiva update needs a data file or --measurement")
    if json.loads(registry.weights(name).with_suffix(".json").read_text()).get("family") == "escat":
        return update_escat(registry=registry, name=name, data=Path(data), config=cfg, progress=progress)
    return update_generator(registry=registry, name=name, data=data, constraints=constraints, config=cfg,
                            progress=progress)


def watch(*, registry: Registry, name: str, folder, constraints=None, config: UpdateConfig | None = None,
          once: bool = False, poll_s: float = 10.0) -> list[dict]:
    """Process the data files dropped into ``folder`` one at a time, in name order; files already
    processed (by SHA-256) are skipped. With ``once`` return after one pass."""
    import time

    from aiva.models.io import sha256_file

    folder = Path(folder)
    seen_f = registry.dir(name) / "watched.json"
    done: list[dict] = []
    while True:
        seen = set(json.loads(seen_f.read_text())) if seen_f.exists() else set()
        for f in sorted(p for p in folder.iterdir() if p.suffix in (".parquet", ".csv", ".root", ".hepmc3")):
            h = sha256_file(f)
            if h in seen:
                continue
            try:
                done.append(update(registry=registry, name=name, data=f, constraints=constraints, config=config))
            except AivaInputError as exc:
                done.append({"data": str(f), "decision": "error", "reason": str(exc)})
                log.info(f"{f}: {exc}")
            seen.add(h)
            from aiva.utils import atomic_write_text

            atomic_write_text(seen_f, json.dumps(sorted(seen)) + "\n")
        if once:
            return done
        time.sleep(poll_s)
