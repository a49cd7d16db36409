"""The knowledge-update scenario of the registry issue.

Start a fresh registry from a νμ–C12 model (``--base``); feed three chunks of 10k events of the
``alt`` physics configuration (each should be promoted, each promoted version scoring a lower
MAP-3D on independent ``alt`` events than its parent); then 10k νμ–⁴⁰Ar events relabelled as
carbon (no aiva metadata, as a mislabelled foreign file) and 10k carbon events whose E_ν column
was scaled by 1.15 — both must be rejected with the reason recorded and the current version
byte-identical; finally a rollback. Writes ``benchmarks/results/update_scenario/`` (the decision
log as ``log.jsonl``, ``update_scenario.json``).

    python benchmarks/update_scenario.py --base path/to/numu-C12-model.safetensors
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "update_scenario"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="numu-C12-inclusive")
    ap.add_argument("--work", default="/tmp/aiva_update_scenario")
    ap.add_argument("--train-config", help="TOML [training] table for the fine-tuning")
    ap.add_argument("--eval-events", type=int, default=300_000, help="independent alt events for MAP-3D")
    ap.add_argument("--holdout", type=float, default=0.2, help="held-out fraction of each file")
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args()

    from aiva.events import write_events
    from aiva.events.table import EventTable
    from aiva.mc import simulate
    from aiva.metrics.core import map_3d
    from aiva.models.generate import generate_events
    from aiva.models.io import load_model, sha256_file
    from aiva.registry import Registry, UpdateConfig, update

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    _, bcard = load_model(args.base)
    tcfg = args.train_config
    if tcfg is None:
        tcfg = work / "finetune.toml"
        if bcard.get("family") == "flow":
            tcfg.write_text("[training]\nbatch_size = 512\nepochs = 30\nlr = 1e-3\nval_events = 20000\n")
        else:
            tcfg.write_text("[training]\nbatch_size = 512\nepochs = 60\nlr_g = 1e-4\nlr_d = 1e-4\nval_events = 20000\n")
    files = []
    for k in range(3):
        files.append(("alt", write_events(simulate("C12", "numu", 10_000, energy_range=(0.3, 10.0), seed=200 + k,
                                                   config="alt"), work / f"alt_chunk{k + 1}.parquet")))
    ar = simulate("Ar40", "numu", 10_000, energy_range=(0.3, 10.0), seed=300)
    ar_as_c = EventTable({**ar.columns, "tgta": np.full(len(ar), 12, np.int32), "tgtz": np.full(len(ar), 6, np.int32)},
                         {})  # a foreign file: no aiva metadata, carbon in the target columns
    files.append(("argon labelled as carbon", write_events(ar_as_c, work / "argon_labelled_carbon.parquet")))
    c = simulate("C12", "numu", 10_000, energy_range=(0.3, 8.5), seed=301)
    shifted = EventTable({**c.columns, "Enu_true": c["Enu_true"] * 1.15}, {})
    files.append(("energies scaled by 1.15", write_events(shifted, work / "shifted_energies.parquet")))

    evalset = simulate("C12", "numu", args.eval_events, energy_range=(0.3, 10.0), seed=400, config="alt")
    pe = np.column_stack(evalset.proxies())

    def alt_map(weights) -> float:
        net, card = load_model(weights)
        g = generate_events(net, card, evalset["Enu_true"], 41)
        return map_3d(pe, np.column_stack(g.proxies()))

    reg = Registry(work / "registry")
    name = "numu-C12-inclusive"
    reg.register(name, args.base)
    cfg = UpdateConfig(train_config=str(tcfg), holdout=args.holdout)
    steps = []
    for what, f in files:
        before_v = reg.current(name)
        before_sha = sha256_file(reg.weights(name))
        t0 = time.perf_counter()
        rec = update(registry=reg, name=name, data=f, config=cfg)
        step = {"file": f.name, "what": what, "decision": rec["decision"], "reason": rec.get("reason"),
                "seconds": time.perf_counter() - t0, "version_before": before_v, "version_after": reg.current(name)}
        if rec["decision"] == "promoted":
            step["alt_MAP3D_parent"] = alt_map(reg.weights(name, before_v))
            step["alt_MAP3D_new"] = alt_map(reg.weights(name))
            step["holdout"] = rec["evidence"]["new_holdout"]
        else:
            step["current_byte_identical"] = sha256_file(reg.weights(name)) == before_sha
        steps.append(step)
        print(json.dumps({k: v for k, v in step.items() if k != "holdout"}), flush=True)
    cur = reg.current(name)
    cur_sha = sha256_file(reg.weights(name))
    parent = reg.info(name).get("parent")
    rb = {}
    if parent:
        parent_sha = reg.info(name, parent)["weights_sha256"]
        reg.rollback(name)
        rb = {"from": cur, "to": reg.current(name), "bytes_equal_parent": sha256_file(reg.weights(name)) == parent_sha,
              "log_keeps_both": cur in reg.versions(name)}
    res = {"base": str(args.base), "family": bcard.get("family"), "holdout": args.holdout, "steps": steps, "rollback": rb,
           "final_current_before_rollback": cur, "final_sha_before_rollback": cur_sha}
    (results / "update_scenario.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    shutil.copyfile(reg.dir(name) / "log.jsonl", results / "log.jsonl")
    ok_alt = all(s["decision"] == "promoted" and s["alt_MAP3D_new"] < s["alt_MAP3D_parent"] for s in steps[:3])
    ok_rej = all(s["decision"] == "rejected" and s["current_byte_identical"] for s in steps[3:])
    print(f"alt chunks promoted with lower alt MAP-3D each time: {ok_alt}; bad files rejected, current unchanged: "
          f"{ok_rej}; rollback restores bytes: {rb.get('bytes_equal_parent')}")


if __name__ == "__main__":
    main()
