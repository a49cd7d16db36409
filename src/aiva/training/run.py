"""File-level entry points used by the CLI: train, generate, evaluate."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from aiva.errors import AivaInputError
from aiva.events import read_events, write_events
from aiva.models.base import energy_range
from aiva.models.generate import BYTES_PER_EVENT, energies_for
from aiva.models.io import load_model, save_model, sha256_file
from aiva.physics.targets import target_from_za
from aiva.training.data import MAX_DROPPED_FRACTION, proxy_domain, reference_sets, training_proxies
from aiva.training.configs import CommonTrainConfig, config_classes, load_toml_config, pick_device
from aiva.training.gan import train_gan
from aiva.training.validation import (HOLDOUT_FRACTION, HOLDOUT_MAX, HOLDOUT_MIN, HeldOut, format_validation,
                                      selection_summary, selection_warnings)
from aiva.utils import atomic_write_text

log = logging.getLogger(__name__)

_PROBE_BY_PDG = {14: "numu", -14: "numubar"}


def describe_data(table, path) -> dict:
    """Target, probe, channels and provenance of a training file (from metadata or columns)."""
    meta = table.metadata
    for col in ("tgta", "tgtz", "PDGnu"):
        if len(np.unique(table[col])) != 1:
            raise AivaInputError(f"{path}: column '{col}': training data must have one target and one probe")
    tgt = target_from_za(int(table["tgtz"][0]), int(table["tgta"][0]))
    probe = _PROBE_BY_PDG.get(int(table["PDGnu"][0]))
    if tgt is None or probe is None:
        raise AivaInputError(f"{path}: unsupported target (Z={table['tgtz'][0]}, A={table['tgta'][0]}) or probe "
                             f"(PDG {table['PDGnu'][0]})")
    modes = np.unique(np.abs(table["Mode"]))
    return {"target": tgt.name, "probe": probe, "from_reference_mc": meta.get("producer") == "aiva.mc",
            "channels": meta.get("channels") or (["qe"] if list(modes) == [1] else ["inclusive"]),
            "config": (meta.get("config") or {}).get("name"), "mode_code": 1 if list(modes) == [1] else 0}


def _attach_xsec(card: dict, info: dict) -> None:
    """σ(E) for the model card: the reference MC's table when the data come from it. Models
    trained on other generators' events carry none (flux-folded generation then says so)."""
    if info["from_reference_mc"]:
        from aiva.models.xsec import attach_reference_xsec

        attach_reference_xsec(card)


def training_and_validation(table, info: dict, tcfg: CommonTrainConfig, path: str, emin: float = 0.3,
                            emax: float = 10.0, progress: bool = True):
    """(training proxies, validation set, notes for the model card's ``training``).

    Data from aiva's Monte Carlo: every event must lie in the proxy domain (the MC respects the
    9.8 MeV threshold by construction, so an event outside is a bug), and validation uses fresh
    reference-MC events at the test energies. Any other file: events outside the proxy domain are
    dropped with a count, up to :data:`~aiva.training.data.MAX_DROPPED_FRACTION` of the file (more
    is refused), and a seeded :data:`~aiva.training.validation.HOLDOUT_FRACTION` of the remaining
    events (at most :data:`~aiva.training.validation.HOLDOUT_MAX`) is held out for checkpoint
    selection by held-out log-likelihood or MAP-3D (:mod:`aiva.training.validation`)."""
    from aiva.training import distributed

    if info["from_reference_mc"]:
        X = training_proxies(table, path, emin=emin, emax=emax)
        if not distributed.is_main():  # only rank 0 validates: the other ranks skip simulating references
            return X, None, {}
        if progress:
            log.info(f"validation: {tcfg.val_events} fresh reference-MC events at each of {list(tcfg.val_energies)} GeV")
        refs = reference_sets(info["target"], info["probe"], info["config"] or "default", tuple(info["channels"]),
                              tcfg.val_energies, tcfg.val_events, seed=tcfg.seed + 7919)
        return X, refs, {"validation": {"kind": "fresh reference-MC events", "energies_GeV": list(tcfg.val_energies),
                                        "events_per_energy": tcfg.val_events}}
    p, ok = proxy_domain(table, path, emin, emax, max_dropped=MAX_DROPPED_FRACTION)
    n_drop = int((~ok).sum())
    if n_drop:  # never silent, also with --quiet
        log.warning(f"{path}: dropped {n_drop} of {len(p)} events ({100 * n_drop / len(p):.4f} %) whose lepton "
              "kinematics map outside the proxy domain (energy transfer below 9.8 MeV)")
    p = p[ok]
    n_hold = min(int(round(HOLDOUT_FRACTION * len(p))), HOLDOUT_MAX)
    hold = np.zeros(len(p), bool)
    hold[np.random.default_rng(tcfg.seed).permutation(len(p))[:n_hold]] = True
    refs = HeldOut(p[hold])
    if progress:
        log.info(f"validation: {n_hold} events held out of {path} ({100 * HOLDOUT_FRACTION:g} %, at most {HOLDOUT_MAX}); "
              "checkpoint selection by held-out NLL (families with a likelihood) or MAP-3D")
    if n_hold < HOLDOUT_MIN:
        log.warning(f"only {n_hold} held-out validation events (< {HOLDOUT_MIN}): checkpoint selection will be "
              "noisy")
    notes = {"dropped_outside_proxy_domain": {"events": n_drop, "of": len(ok), "max_fraction": MAX_DROPPED_FRACTION,
                                              "policy": "dropped: energy transfer below the 9.8 MeV of the proxy map"},
             "validation": {**refs.describe(), "seed": tcfg.seed}}
    return p[~hold], refs, notes


def selection_line(res: dict) -> str:
    """'best epoch k (figure ...)': what was selected and on which figure."""
    b, summary = res["best"], res.get("selection") or {}
    val = b.get("validation") or {}
    why = format_validation(val) if val else "no validation set: the last epoch"
    if summary and summary["epochs_validated"] > 1:
        why += f"; {summary['gain_in_noise_units']:.1f} noise units better than epoch 1"
    return f"best epoch {b['epoch']} ({why}); model: {res['model']}"


def report_selection(res: dict, progress: bool = True) -> dict:
    """Print the selected epoch and why; for held-out validation add the selection summary
    (:func:`~aiva.training.validation.selection_summary`) to the result and to the model card,
    and print its warnings (also with ``progress`` off)."""
    from aiva.training import distributed

    b = res["best"]
    summary = selection_summary(res["history"], b)
    if summary and distributed.is_main():
        res["selection"] = summary
        card_path = Path(res["model"]).with_suffix(".json")
        if card_path.exists():
            card = json.loads(card_path.read_text())
            card.setdefault("metrics", {})["selection"] = summary
            atomic_write_text(card_path, json.dumps(card, indent=2) + "\n")
    if progress:
        log.info(selection_line(res))
    for w in selection_warnings(summary):
        log.warning(f"{w}")
    return res


def _configs(family: str, config, overrides: dict):
    """(model config, training config): from a TOML file, a ``{"model": …, "training": …}``
    dict (the same schema, checked the same way), or the family's defaults; then ``overrides``."""
    if isinstance(config, dict):
        mc, tc = config_classes(family)
        unknown = sorted(set(config) - {"model", "training"})
        if unknown:
            raise AivaInputError(f"config: unknown table '{unknown[0]}' (tables: model, training)")
        mcfg, tcfg = mc.from_dict(config.get("model", {})), tc.from_dict(config.get("training", {}))
    elif config:
        mcfg, tcfg = load_toml_config(config, family)
    else:
        mc, tc = config_classes(family)
        mcfg, tcfg = mc(), tc()
    for key, val in overrides.items():
        if val is not None:
            setattr(tcfg, key, val)
    return mcfg, tcfg


def _card(name, out, info, source: tuple[str, str], table, lo=0.3, hi=10.0, parent=None) -> dict:
    """The new model's card; ``source``: (file name or label, SHA-256) of the training data."""
    card = {"name": name or Path(out).name, "target": info["target"], "probe": info["probe"],
            "channels": info["channels"], "mode_code": info["mode_code"], "energy_range_GeV": [lo, hi],
            "parent": parent,
            "training": {"data": [{"file": source[0], "sha256": source[1], "n_events": len(table)}],
                         "data_metadata": {k: table.metadata.get(k) for k in ("producer", "version", "seed", "config",
                                                                              "channels", "energy")}}}
    _attach_xsec(card, info)
    return card


def _fit(family, X, refs, out, *, mcfg=None, tcfg, card, resume, progress, init=None, freeze=None) -> dict:
    """One training into ``out``, holding the folder's lock (a second run into it is refused)."""
    from contextlib import nullcontext

    from aiva.training import distributed
    from aiva.training.checkpoint import run_lock

    distributed.refuse(family)
    with run_lock(Path(out)) if distributed.is_main() else nullcontext():  # only rank 0 writes into out
        if family in ("flow", "cfm"):
            from aiva.training.direct import train_direct

            return train_direct(family, X, refs, out, model_config=mcfg, train_config=tcfg, init=init, freeze=freeze,
                                card=card, resume=resume, progress=progress)
        return train_gan(X, refs, out, model_config=mcfg, train_config=tcfg, init=init, freeze=freeze, card=card,
                         resume=resume, progress=progress)


def train_from_files(*, data, out, config=None, epochs=None, name=None, val_events=None, resume=True,
                     max_minutes=None, cpu_minutes=None, threads=None, seed=None, family="gan", ensemble=None,
                     progress=True, select=None) -> dict:
    """Train a generator of ``family`` on an event file; with ``ensemble=K``, K members (seeds
    seed, seed+1, …, each on its own bootstrap resample of the training events) in
    ``out/member-k`` and the manifest ``out/ensemble.json`` (see :mod:`aiva.models.ensemble`)."""
    table = read_events(data, select=select)
    return train_table(table, out=out, source=(Path(data).name, sha256_file(data)), label=str(data), config=config,
                       epochs=epochs, name=name, val_events=val_events, resume=resume, max_minutes=max_minutes,
                       cpu_minutes=cpu_minutes, threads=threads, seed=seed, family=family, ensemble=ensemble,
                       progress=progress)


def train_table(table, *, out, source: tuple[str, str] | None = None, label: str = "<events>", config=None,
                epochs=None, name=None, val_events=None, resume=True, max_minutes=None, cpu_minutes=None,
                threads=None, seed=None, family="gan", ensemble=None, progress=True) -> dict:
    """:func:`train_from_files` on an in-memory :class:`~aiva.events.EventTable`; ``source``
    (name, SHA-256) of the data for the card (default: the SHA-256 of the table's columns)."""
    from aiva.events.table import table_sha256

    mcfg, tcfg = _configs(family, config, {"epochs": epochs, "max_minutes": max_minutes, "seed": seed,
                                           "val_events": val_events, "cpu_minutes": cpu_minutes,
                                           "threads": threads})
    source = source or (label, table_sha256(table))
    info = describe_data(table, label)
    X, refs, notes = training_and_validation(table, info, tcfg, label, progress=progress)
    card = _card(name, out, info, source, table)
    card["training"].update(notes)
    if ensemble is not None:
        _one_process("--ensemble")
        return _train_ensemble(family, int(ensemble), X, refs, Path(out), mcfg, tcfg, card, resume, progress)
    res = _fit(family, X, refs, out, mcfg=mcfg, tcfg=tcfg, card=card, resume=resume, progress=progress)
    return report_selection(res, progress)


def _train_ensemble(family, k, X, refs, out: Path, mcfg, tcfg, card, resume, progress) -> dict:
    from dataclasses import replace

    from aiva.models.ensemble import write_manifest

    if k < 2:
        raise AivaInputError(f"--ensemble needs at least 2 members, got {k}")
    members, results = [], []
    for i in range(k):
        seed = tcfg.seed + i
        boot = np.random.default_rng(seed).integers(0, len(X), len(X))  # bootstrap resample of the events
        mcard = {**card, "name": f"{card['name']}-member{i}",
                 "training": {**card["training"], "ensemble": {"member": i, "of": k, "bootstrap_seed": seed}}}
        if progress:
            log.info(f"ensemble member {i + 1}/{k} (seed {seed}, bootstrap resample of {len(X)} events)")
        res = report_selection(_fit(family, X[boot], refs, out / f"member-{i}", mcfg=mcfg, tcfg=replace(tcfg,
                                                                                                        seed=seed),
                                    card=mcard, resume=resume, progress=progress), progress)
        members.append(res["model"])
        results.append(res)
    manifest = write_manifest(out, members, {"name": card["name"], "family": family, "seeds":
                                             [tcfg.seed + i for i in range(k)], "bootstrap": True})
    if progress:
        scores = ", ".join(f"{r['best']['score']:.3f}" for r in results)
        log.info(f"ensemble of {k} written to {manifest} (validation scores of the members: {scores})")
    return {"ensemble": str(manifest), "members": results}


def generate_to_file(*, model, output, n_events, seed, energy=None, energy_range=None, flux=None,
                     flux_range=None, flux_content="integral", allow_extrapolation=False, float64=False,
                     device="auto", shard: tuple[int, int] | None = None):
    """Generate events with a model; with a flux, E_ν ~ Φσ and every event carries the weight
    ⟨σ⟩_Φ/N (10⁻³⁸ cm² per nucleon), see :func:`aiva.models.generate.generate_with_flux`."""
    from aiva.models.generate import generate_events, generate_with_flux
    from aiva.models.xsec import model_flux

    if n_events <= 0:
        raise AivaInputError(f"number of events must be positive, got {n_events}")
    from aiva.utils import check_fits_in_memory

    if shard is not None:
        blocks = shard_blocks(n_events, shard)
        check_fits_in_memory(len(blocks) * BLOCK, BYTES_PER_EVENT)
    streamed = shard is None and n_events > STREAM_CHUNK and Path(output).suffix.lower() in (".parquet", ".pq")
    if shard is None:
        check_fits_in_memory(BLOCK if streamed else n_events, BYTES_PER_EVENT)
    if streamed:
        from aiva.utils import check_fits_on_disk

        check_fits_on_disk(n_events, 40, output)  # zstd Parquet: about 30-40 bytes per event
    dev = pick_device(device)
    net, card = load_model(model, device=dev)
    kw = {"allow_extrapolation": allow_extrapolation, "float64": float64, "device": dev}
    if shard is not None:
        return _generate_sharded(net, card, output, n_events, seed, energy, energy_range, flux, flux_range,
                                 flux_content, kw, shard)
    if streamed:
        return _generate_streamed(net, card, output, n_events, seed, energy, energy_range, flux, flux_range,
                                  flux_content, kw)
    t0 = time.perf_counter()
    if flux is not None:
        fx, removed = model_flux(card, flux, flux_range=flux_range, flux_content=flux_content,
                                 allow_extrapolation=allow_extrapolation)
        table = generate_with_flux(net, card, fx, n_events, seed, removed=removed, **kw)
    else:
        E = energies_for(n_events, np.random.default_rng(seed), energy, energy_range)
        table = generate_events(net, card, E, seed, **kw)
    from aiva.models.xsec import writer_options

    path = write_events(table, output, **writer_options(table, output))
    dt = time.perf_counter() - t0
    log.info(f"wrote {len(table)} events from {card['name']} to {path} in {dt:.2f} s "
          f"({table.metadata['n_redrawn']} out-of-range proxies redrawn)")
    if flux is not None:
        xs = table.metadata["flux_averaged_xsec"]
        log.info(f"flux {fx.name}: flux-averaged cross section {xs['per_nucleon']:.4g} x 1e-38 cm^2 per nucleon "
              f"({xs['per_nucleus']:.4g} per nucleus)" + (f"; flux range removed {100 * removed:.2f} % of the flux"
                                                          if removed else ""))
    return table


#: above this many events ``aiva generate`` to Parquet is made and written block by block
STREAM_CHUNK = 4_000_000
#: events per block of a blocked run (streamed or sharded): block b is seeded by SeedSequence([seed, b])
BLOCK = 100_000


def _block_seed(seed: int, b: int) -> int:
    return int(np.random.SeedSequence([seed, b]).generate_state(1)[0])


def _block_table(net, card, b: int, n_total: int, seed: int, energy, energy_range, fx, removed: float, kw):
    """Block ``b`` of a blocked run of ``n_total`` events: its own seed, its own energies, and (with
    a flux) per-event weights ⟨σ⟩_Φ/n_total of the whole run."""
    from aiva.models.generate import generate_events, generate_with_flux

    n = min(BLOCK, n_total - b * BLOCK)
    s = _block_seed(seed, b)
    if fx is not None:
        t = generate_with_flux(net, card, fx, n, s, removed=removed, **kw)
        t.columns["weight"] = t["weight"] * (n / n_total)
        return t
    return generate_events(net, card, energies_for(n, np.random.default_rng(s), energy, energy_range), s, **kw)


def shard_blocks(n_events: int, shard: tuple[int, int]) -> range:
    """The blocks of shard K of N (1-based): a contiguous share of the run's blocks, so that the
    shards' events, concatenated in shard order, are the events of the whole run, whatever N."""
    k, n = shard
    n_blocks = (n_events + BLOCK - 1) // BLOCK
    if not 1 <= k <= n:
        raise AivaInputError(f"--shard {k}/{n}: need 1 <= K <= N")
    if n > n_blocks:
        raise AivaInputError(f"--shard {k}/{n}: {n_events} events make {n_blocks} blocks of {BLOCK}; use at most "
                             f"{n_blocks} shards")
    return range((k - 1) * n_blocks // n, k * n_blocks // n)


def _model_flux(card, flux, flux_range, flux_content, kw):
    from aiva.models.xsec import model_flux

    if flux is None:
        return None, 0.0
    return model_flux(card, flux, flux_range=flux_range, flux_content=flux_content,
                      allow_extrapolation=kw["allow_extrapolation"])


def _generate_sharded(net, card, output, n_events, seed, energy, energy_range, flux, flux_range, flux_content, kw,
                      shard: tuple[int, int]):
    """Shard K/N of a blocked run (for batch systems): its blocks only, written to ``output``."""
    from aiva.events import EventTable
    from aiva.models.xsec import writer_options

    fx, removed = _model_flux(card, flux, flux_range, flux_content, kw)
    blocks = shard_blocks(n_events, shard)
    tables = [_block_table(net, card, b, n_events, seed, energy, energy_range, fx, removed, kw) for b in blocks]
    table = EventTable.concatenate(tables)
    table.metadata.update({"seed": seed, "n_redrawn": sum(int(t.metadata["n_redrawn"]) for t in tables),
                           "shard": {"k": shard[0], "of": shard[1], "blocks": [blocks.start, blocks.stop],
                                     "block_events": BLOCK, "run_events": n_events,
                                     "block_seeds": "SeedSequence([seed, block])"}})
    path = write_events(table, output, **writer_options(table, output))
    log.info(f"shard {shard[0]}/{shard[1]}: blocks {blocks.start}-{blocks.stop - 1} of the {n_events}-event run, "
             f"{len(table)} events to {path}")
    return table


def _generate_streamed(net, card, output, n_events, seed, energy, energy_range, flux, flux_range, flux_content,
                       kw) -> None:
    """``n_events`` block by block (:data:`BLOCK` events, block b seeded by ``SeedSequence([seed, b])``),
    appended to one Parquet file (a row group per block) and renamed into place at the end, so
    that memory holds one block. Flux weights stay ⟨σ⟩_Φ/N of the whole request. The same seed
    gives the same file, and the same events as the shards of ``--shard K/N`` concatenated."""
    from aiva.events.io import write_parquet_stream

    t0 = time.perf_counter()
    fx, removed = _model_flux(card, flux, flux_range, flux_content, kw)
    n_blocks = (n_events + BLOCK - 1) // BLOCK
    redrawn = 0

    def blocks():
        nonlocal redrawn
        for b in range(n_blocks):
            t = _block_table(net, card, b, n_events, seed, energy, energy_range, fx, removed, kw)
            redrawn += int(t.metadata["n_redrawn"])
            if (b + 1) % 10 == 0 or b + 1 == n_blocks:
                log.info(f"{(b + 1) * BLOCK if b + 1 < n_blocks else n_events} of {n_events} events")
            yield t

    write_parquet_stream(output, blocks(), {"seed": seed, "streamed": {
        "blocks": n_blocks, "block_events": BLOCK, "block_seeds": "SeedSequence([seed, block])"}})
    log.info(f"wrote {n_events} events from {card['name']} to {output} in {time.perf_counter() - t0:.2f} s, "
             f"{n_blocks} blocks ({redrawn} out-of-range proxies redrawn)")
    return None


def evaluation_references(card: dict, reference=None, energies=None, events: int = 1_000_000, seed: int = 1,
                          select=None, min_events: int = 1000) -> dict:
    """{E_ν: events}: the fixed energies (≥ ``min_events`` events each) of a reference file, or
    fresh reference-MC events at ``energies`` (default the test energies) for the model's card.
    A reference file must hold one target, one probe and CC events only (``select`` filters it);
    energies with fewer events are left out and reported, not silently."""
    from aiva.events.select import require_single
    from aiva.training.evaluate import reference_tables
    from aiva.training.configs import TEST_ENERGIES

    if reference is None:
        return reference_tables(card, energies or TEST_ENERGIES, events, seed=seed + 4241)
    t = read_events(reference, select=select)
    require_single(t, str(reference))
    es, counts = np.unique(t["Enu_true"], return_counts=True)
    refs = {float(e): t.select(t["Enu_true"] == e) for e, c in zip(es, counts) if c >= min_events}
    small = int(np.sum(counts < min_events))
    if small:
        log.info(f"{reference}: {small} energies with fewer than {min_events} events "
              f"({int(counts[counts < min_events].sum())} events) are not evaluated; "
              f"evaluated: {', '.join(f'{e:g}' for e in refs)} GeV")
    if not refs:
        raise AivaInputError(f"{reference}: column 'Enu_true': no fixed energy with >= {min_events} events "
                             f"({len(es)} distinct energies, at most {int(counts.max())} events at one)")
    return refs


def evaluate_to_dir(*, model, out, reference=None, events=1_000_000, energies=None, seed=1, c2st=True, select=None):
    from aiva.training.evaluate import evaluate_model

    net, card = load_model(model)
    refs = evaluation_references(card, reference, energies, events, seed, select=select)
    res = evaluate_model(net, card, refs, Path(out), seed=seed, c2st=c2st)
    log.info((Path(out) / "report.md").read_text())
    return res


def freeze_scheme(model, spec: str | None) -> list[str]:
    """Block names to freeze: ``default`` (the family's scheme, :meth:`Generator.default_freeze`:
    for a GAN the transfer-learning paper's first half of the generator and discriminator blocks,
    for a flow every transform but the last, for flow matching the first half of its blocks),
    ``none``, ``all-but-last`` (every block but the last of each network), or a comma-separated
    list of names."""
    if spec in (None, "", "default"):
        return model.default_freeze()
    if spec == "none":
        return []
    if spec == "all-but-last":
        return [n for group in model.block_groups() for n in group[:-1]]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    known = set(model.block_names())
    bad = [n for n in names if n not in known]
    if bad:
        raise AivaInputError(f"--freeze: unknown block(s) {', '.join(bad)}; blocks: {', '.join(sorted(known))}")
    return names


def transfer_from_files(*, base, data, out, freeze=None, config=None, epochs=None, max_minutes=None, seed=None,
                        name=None, val_events=None, resume=True, progress=True, members=1, select=None) -> dict:
    """Fine-tune a generator (any family) on new data with frozen blocks (arXiv:2508.12987).
    With ``members=K`` > 1, K fine-tunes (seeds seed, seed+1, …, the same events and validation
    set) in ``out/member-k`` are combined into one equal-weight mixture ``out/model``
    (:mod:`aiva.models.mixture`); each member resumes from its own checkpoint."""
    if members < 1:
        raise AivaInputError(f"--members must be at least 1, got {members}")
    parent, pcard = load_model(base)
    if getattr(parent, "family", "gan") == "mixture":
        raise AivaInputError(f"{base}: a mixture cannot be a transfer base; fine-tune one of its members")
    table = read_events(data, select=select)
    return transfer_table(parent, pcard, table, out=out, source=(Path(data).name, sha256_file(data)),
                          label=str(data), freeze=freeze, config=config, epochs=epochs, max_minutes=max_minutes,
                          seed=seed, name=name, val_events=val_events, resume=resume, progress=progress,
                          members=members)


def distillation_proxies(teacher, enu_p: np.ndarray, n: int, seed: int, energy_power: float = 0.0
                         ) -> tuple[np.ndarray, dict]:
    """``n`` (E'_ν, E'_μ, θ') events drawn from a ``teacher`` generator (e.g. a mixture of
    fine-tunes): the conditions E'_ν are drawn with replacement from the training events'
    ``enu_p`` with probability ∝ E_ν^−p (``energy_power`` p; 0: the data's own energy spectrum),
    the lepton proxies from the teacher at those conditions (generation seed ``seed``). Samples
    outside the proxy domain [−1, 1]³ are dropped and counted.

    Knowledge distillation (Hinton, Vinyals, Dean, arXiv:1503.02531, Sec. 2): a single student
    trained by maximum likelihood on many teacher samples minimises KL(teacher ‖ student), so it
    inherits the averaging of the mixture without its K-fold size; the teacher is a function of
    the same training events, so the student's provenance is those events. Weighting by E^−p
    moves only where the samples (and so the student's capacity) go: the teacher's conditional
    density at each E_ν is unchanged."""
    from aiva.physics.kinematics import PROXY_EMAX, PROXY_EMIN, in_proxy_domain
    from aiva.training.validation import sample_proxies

    if n < 1:
        raise AivaInputError(f"distillation: need at least 1 teacher sample, got {n}")
    enu_p = np.asarray(enu_p, dtype=np.float64)
    E = PROXY_EMIN + (enu_p + 1) * (PROXY_EMAX - PROXY_EMIN) / 2
    rng = np.random.default_rng(seed)
    w = np.clip(E, 1e-3, None) ** (-float(energy_power))
    cond = enu_p[rng.choice(len(enu_p), size=int(n), replace=True, p=w / w.sum())]
    gen = sample_proxies(teacher.sampler(), cond, seed + 1)
    X = np.column_stack([cond, gen])
    ok = np.all(np.isfinite(X), axis=1) & in_proxy_domain(X[:, 1], X[:, 2])
    note = {"teacher_samples": int(n), "kept": int(ok.sum()), "dropped_outside_proxy_domain": int((~ok).sum()),
            "sample_seed": int(seed), "energy_power": float(energy_power),
            "conditions": "E'_nu resampled from the training events with probability ~ E_nu^-p"}
    return X[ok].astype(np.float32), note


def transfer_table(parent, pcard, table, *, out, source: tuple[str, str] | None = None, label: str = "<events>",
                   freeze=None, config=None, epochs=None, max_minutes=None, seed=None, name=None, val_events=None,
                   resume=True, progress=True, members=1, teacher=None, teacher_card: dict | None = None,
                   distil: dict | None = None) -> dict:
    """:func:`transfer_from_files` from a loaded parent model and an in-memory event table.

    With a ``teacher`` generator (its card ``teacher_card`` names it in the student's) and
    ``distil = {"samples": n, "seed": s, "energy_power": p, "with_data": bool}``, the fine-tune is
    a distillation: it trains on ``n`` teacher samples (:func:`distillation_proxies`), together
    with the table's own events when ``with_data`` (default true); validation is the same as
    without."""
    from aiva.events.table import table_sha256

    family = getattr(parent, "family", "gan")
    if family == "mixture":
        raise AivaInputError(f"{pcard.get('name')}: a mixture cannot be a transfer base; fine-tune one of its members")
    _, tcfg = _configs(family, config, {"epochs": epochs, "max_minutes": max_minutes, "seed": seed,
                                        "val_events": val_events})
    source = source or (label, table_sha256(table))
    info = describe_data(table, label)
    meta_target = table.metadata.get("target")
    if meta_target and meta_target != info["target"]:
        raise AivaInputError(f"{label}: metadata says target {meta_target!r} but columns tgtz/tgta say "
                             f"{info['target']!r}")
    lo, hi = energy_range(pcard)
    X, refs, notes = training_and_validation(table, info, tcfg, label, emin=lo, emax=hi, progress=progress)
    frozen = freeze_scheme(parent, freeze)
    card = _card(name, out, info, source, table, lo, hi,
                 parent={"name": pcard.get("name"), "weights_sha256": pcard.get("weights_sha256")})
    card["training"].update(notes)
    if teacher is not None:
        d = dict(distil or {})
        unknown = sorted(set(d) - {"samples", "seed", "energy_power", "with_data"})
        if unknown:
            raise AivaInputError(f"distil: unknown key(s) {', '.join(unknown)} (keys: samples, seed, energy_power, "
                                 "with_data)")
        Xd, dnote = distillation_proxies(teacher, X[:, 0], int(d.get("samples", 1_000_000)), int(d.get("seed", 1)),
                                         float(d.get("energy_power", 0.0)))
        with_data = bool(d.get("with_data", True))
        X = np.concatenate([X, Xd]) if with_data else Xd
        tc = teacher_card or {}
        card["training"]["distillation"] = {**dnote, "with_data": with_data, "n_train": int(len(X)),
                                            "teacher": {"name": tc.get("name"), "weights_sha256": tc.get("weights_sha256")}}
        if progress:
            log.info(f"distillation: {dnote['kept']} teacher samples (p = {dnote['energy_power']:g})"
                     + (f" + {len(X) - len(Xd)} data events" if with_data else ""))
    card["training"]["transfer"] = {"frozen": frozen}
    if progress:
        log.info(f"fine-tuning {pcard.get('name')} on {len(X)} events of {info['probe']} on {info['target']}; "
              f"frozen: {', '.join(frozen) or 'none'}" + (f"; {members} members" if members > 1 else ""))
    if members == 1:
        return report_selection(_fit(family, X, refs, out, tcfg=tcfg, card=card, resume=resume, progress=progress,
                                     init=parent, freeze=frozen), progress)
    _one_process("--members")
    return _fit_mixture(family, members, X, refs, Path(out), tcfg, card, resume, progress, parent, frozen)


def _one_process(what: str) -> None:
    from aiva.training import distributed

    if distributed.current() is not None:
        raise AivaInputError(f"{what}: not available in a data-parallel (torchrun) run; train the members one by one")


def _fit_mixture(family, k, X, refs, out: Path, tcfg, card, resume, progress, init, frozen) -> dict:
    """K fits with seeds tcfg.seed + i on the same events, combined into the mixture ``out/model``
    whose card carries the mixture's own validation MAP (same validation events as the members)."""
    from dataclasses import replace

    from aiva.models.mixture import mix_models
    from aiva.training.loop import run_validation

    results = []
    for i in range(k):
        if progress:
            log.info(f"member {i + 1}/{k} (seed {tcfg.seed + i})")
        member_card = {**card, "name": f"{card['name']}-member{i}"}
        results.append(report_selection(_fit(family, X, refs, out / f"member-{i}", tcfg=replace(tcfg,
                                                                                                seed=tcfg.seed + i),
                                             card=member_card, resume=resume, progress=progress, init=init,
                                             freeze=frozen), progress))
    loaded = [load_model(r["model"]) for r in results]
    mix, mcard = mix_models([m for m, _ in loaded], [c for _, c in loaded], card["name"])
    val = run_validation(mix, refs, tcfg.seed + 1000, "cpu")
    mcard["metrics"] = {"validation": val}
    mcard["training"] = {**mcard["training"], "train_config": tcfg.to_dict(), "frozen": frozen,
                         "members": {"of": k, "seeds": [tcfg.seed + i for i in range(k)]}}
    path = save_model(mix, out / "model", mcard)
    if progress and val:
        scores = ", ".join(f"{r['best']['score']:.3f}" for r in results)
        worst = f", worst energy {max(val['MAP'].values()):.3f}" if "MAP" in val else ""
        log.info(f"mixture of {k} written to {path}: {format_validation(val)}{worst} (members' selection scores: "
              f"{scores})")
    return {"model": str(path), "members": results, "validation": val}


def ensemble_histograms_to_file(*, ensemble, output, energy, n_events, seed=1, variables=("Emu", "costheta", "W", "Q2"),
                                allow_extrapolation=False) -> dict:
    """Per-bin mean and spread over the members of an ensemble, at one E_ν, written as JSON/CSV."""
    from aiva.models.ensemble import ensemble_bands, load_ensemble, write_bands

    if n_events <= 0:
        raise AivaInputError(f"number of events must be positive, got {n_events}")
    models, cards, info = load_ensemble(ensemble)
    lo, hi = energy_range(cards[0])
    if not lo <= energy <= hi and not allow_extrapolation:
        raise AivaInputError(f"E_nu = {energy} GeV is outside the ensemble's trained range [{lo}, {hi}] GeV "
                             "(--allow-extrapolation to force)")
    bands = ensemble_bands(models, cards, energy, n_events, variables, seed=seed)
    path = write_bands(bands, output, {"ensemble": info.get("name"), "members": len(models), "energy_GeV": energy,
                                       "seed": seed})
    log.info(f"wrote the mean and spread of {len(models)} members ({n_events} events each, E_nu = {energy:g} GeV) "
          f"for {', '.join(bands)} to {path}")
    return bands


def evaluate_ensemble_to_dir(*, ensemble, out, reference=None, events=1_000_000, energies=None, seed=1,
                             variables=("Emu", "costheta", "W", "Q2"), select=None) -> dict:
    """Ensemble bands against reference events at each energy: figures with the bands, and the
    coverage (bins where the reference lies within 1σ of the ensemble mean) per variable."""
    import json

    from aiva.models.ensemble import ensemble_bands, histogram_values, load_ensemble
    from aiva.report.compare import plot_bands
    from aiva.utils import atomic_write_text

    models, cards, info = load_ensemble(ensemble)
    refs = evaluation_references(cards[0], reference, energies, events, seed, select=select)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"ensemble": info.get("name"), "members": len(models), "per_energy": {}}
    lines = [f"# Ensemble `{info.get('name')}` ({len(models)} members) against reference events", "",
             "Coverage: fraction of bins whose reference lies within 1σ = √(σ_ens² + σ_ref²) of the ensemble mean "
             "(≈ 68 % for calibrated bands).", "",
             "| E_ν [GeV] | " + " | ".join(variables) + " |", "|---|" + "---|" * len(variables)]
    for E, ref in sorted(refs.items()):
        bands = ensemble_bands(models, cards, E, len(ref), variables, seed=seed)
        rv = {v: histogram_values(ref, v) for v in variables}
        cov = {v: bands[v].coverage(rv[v][np.isfinite(rv[v])]) for v in variables}
        res["per_energy"][str(E)] = cov
        plot_bands(bands, rv, out / f"bands_E{E:g}GeV.png", f"{info.get('name')}, E_nu = {E:g} GeV")
        lines.append(f"| {E:g} | " + " | ".join(f"{100 * cov[v]['fraction']:.0f} % ({cov[v]['covered']}/{cov[v]['bins']})"
                                                   for v in variables) + " |")
    atomic_write_text(out / "metrics.json", json.dumps(res, indent=2) + "\n")
    atomic_write_text(out / "report.md", "\n".join(lines + ["", "Figures: `bands_E*.png`."]) + "\n")
    log.info((out / "report.md").read_text())
    return res
