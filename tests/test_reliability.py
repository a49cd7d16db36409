"""Reliability: a corpus of malformed inputs for every command (each must end in exit 2 with one
line naming the file and the column, key or option; never a traceback), crash-safe checkpoints
(a crash between any two writes resumes to the same final weights), resume that refuses another
run, and the lock on a training folder."""
from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from aiva.cli import main
from aiva.models.io import MODELS_DIR

BASE = "numu-C12-inclusive-flow"


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Small good inputs that the bad cases are made from."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aiva.events import write_events
    from aiva.mc import simulate

    d = tmp_path_factory.mktemp("rel")
    t = simulate("C12", "numu", 3000, energy_range=(0.5, 5.0), seed=2)
    good = write_events(t, d / "good.parquet")
    ref = write_events(simulate("C12", "numu", 1500, energy=1.0, seed=3), d / "ref.parquet")
    base = pq.read_table(good)
    return {"dir": d, "good": good, "ref": ref, "table": t, "arrow": base, "pa": pa, "pq": pq}


def _model_copy(d: Path, stem: str) -> tuple[Path, Path]:
    w, c = d / f"{stem}.safetensors", d / f"{stem}.json"
    shutil.copy(MODELS_DIR / f"{BASE}.safetensors", w)
    shutil.copy(MODELS_DIR / f"{BASE}.json", c)
    return w, c


def _card_edit(c: Path, fn) -> None:
    card = json.loads(c.read_text())
    card = fn(card)
    c.write_text(json.dumps(card))


# ------------------------------------------------------------------------- the bad-input corpus
def _bad_models(d: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """name -> (weights path, words the message must contain)."""
    import torch
    from safetensors.torch import load_file, save_file

    out = {}

    def make(name, needles, weights=None, card=None):
        w, c = _model_copy(d, name)
        if weights is not None:
            weights(w)
        if card is not None:
            _card_edit(c, card)
        out[name] = (w, needles)

    make("pickle", ("pickle",), weights=lambda w: w.write_bytes(pickle.dumps({"generator.w": [1.0, 2.0]})))
    make("torchzip", ("zip",), weights=lambda w: torch.save({"w": torch.zeros(3)}, w))
    make("truncated", ("truncated",), weights=lambda w: w.write_bytes(w.read_bytes()[: w.stat().st_size // 2]))
    make("zerobyte", ("empty",), weights=lambda w: w.write_bytes(b""))
    make("no_config", ("'config'",), card=lambda c: {k: v for k, v in c.items() if k != "config"})
    make("no_name", ("'name'",), card=lambda c: {k: v for k, v in c.items() if k != "name"})
    make("card_list", ("JSON object",), card=lambda c: [c])
    make("range_str", ("energy_range_GeV",), card=lambda c: {**c, "energy_range_GeV": "0.3-10"})
    make("range_reversed", ("energy_range_GeV",), card=lambda c: {**c, "energy_range_GeV": [10.0, 0.3]})
    make("config_type", ("'hidden'",), card=lambda c: {**c, "config": {**c["config"], "hidden": "64"}})
    make("config_zero", ("'transforms'",), card=lambda c: {**c, "config": {**c["config"], "transforms": 0}})
    make("shape", ("architecture",), card=lambda c: {**c, "config": {**c["config"], "hidden": 32}})
    make("family", ("'family'",), card=lambda c: {**c, "family": "vae"})
    make("bad_json", ("valid JSON",))
    (d / "bad_json.json").write_text("{not json")

    def nan_weights(w):
        t = load_file(str(w))
        k = next(k for k, v in t.items() if v.is_floating_point())
        t[k] = torch.full_like(t[k], float("nan"))
        save_file(t, str(w))

    make("nan", ("NaN",), weights=nan_weights, card=lambda c: {k: v for k, v in c.items() if k != "weights_sha256"})
    make("sha", ("SHA-256",), weights=nan_weights)
    return out


def _bad_configs(d: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    cases = {
        "epochs_str": ('[training]\nepochs = "ten"\n', ("'epochs'",)),
        "epochs_float": ("[training]\nepochs = 1.5\n", ("'epochs'",)),
        "lr_negative": ("[training]\nlr = -0.001\n", ("'lr'",)),
        "lr_zero": ("[training]\nlr = 0\n", ("'lr'",)),
        "batch_zero": ("[training]\nbatch_size = 0\n", ("'batch_size'",)),
        "batch_negative": ("[training]\nbatch_size = -5\n", ("'batch_size'",)),
        "hidden_zero": ("[model]\nhidden = 0\n", ("'hidden'",)),
        "transforms_str": ('[model]\ntransforms = "four"\n', ("'transforms'",)),
        "device": ('[training]\ndevice = "tpu9"\n', ("'device'",)),
        "misspelt_table": ("[trainig]\nepochs = 3\n", ("'trainig'",)),
        "top_level": ("epochs = 3\n", ("'epochs'",)),
        "unknown_key": ("[training]\nepoch = 3\n", ("epoch",)),
        "val_energies": ('[training]\nval_energies = ["a"]\n', ("'val_energies'",)),
        "select_by": ('[training]\nselect_by = "median"\n', ("'select_by'",)),
        "threads": ("[training]\nthreads = 0\n", ("'threads'",)),
        "seed": ("[training]\nseed = -1\n", ("'seed'",)),
        "max_minutes": ("[training]\nmax_minutes = -1.0\n", ("'max_minutes'",)),
        "syntax": ("[training\nepochs = 3\n", ("TOML",)),
    }
    out = {}
    for name, (text, needles) in cases.items():
        p = d / f"cfg_{name}.toml"
        p.write_text(text)
        out[name] = (p, needles)
    p = d / "cfg_binary.toml"
    p.write_bytes(bytes(range(256)) * 4)
    out["binary"] = (p, ("UTF-8",))
    return out


def _bad_events(w) -> dict[str, tuple[Path, tuple[str, ...]]]:
    pa, pq, base, d = w["pa"], w["pq"], w["arrow"], w["dir"]
    n = base.num_rows
    out = {}

    def put(name, table, needles, suffix=".parquet"):
        p = d / f"ev_{name}{suffix}"
        if suffix == ".parquet":
            pq.write_table(table, p)
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, p)
        out[name] = (p, needles)

    def col(name, arr):
        return base.set_column(base.schema.get_field_index(name), name, arr)

    put("mode_fraction", col("Mode", pa.array(np.full(n, 1.7))), ("'Mode'", "integers"))
    put("pdg_fraction", col("PDGnu", pa.array(np.full(n, 14.9))), ("'PDGnu'", "integers"))
    put("int_nulls", col("tgta", pa.array([None] + [12] * (n - 1), pa.int32())), ("'tgta'", "null"))
    put("numeric_strings", col("ELep", pa.array([str(x) for x in base.column("ELep").to_numpy()])), ("'ELep'",))
    put("text", col("CosLep", pa.array(["forward"] * n)), ("'CosLep'",))
    put("float_nulls", col("ELep", pa.array([None] + list(base.column("ELep").to_numpy()[1:]))), ("'ELep'", "null"))
    put("nan", col("ELep", pa.array(np.r_[np.nan, base.column("ELep").to_numpy()[1:]])), ("'ELep'", "NaN"))
    e = base.column("Enu_true").to_numpy().copy()
    e[:3] = 5000.0
    put("tev_rows", col("Enu_true", pa.array(e)), ("'Enu_true'", "1000 GeV"))
    put("missing", base.drop(["CosLep"]), ("CosLep",))
    put("int_overflow", col("PDGnu", pa.array(np.full(n, 2 ** 40, np.int64))), ("'PDGnu'", "range"))
    dup = pa.Table.from_arrays([base.column(i) for i in range(base.num_columns)] + [base.column("ELep")],
                               names=base.column_names + ["ELep"])
    put("duplicate_parquet", dup, ("'ELep'", "times"))
    p = d / "ev_duplicate.csv"
    text = (d / "dup_src.csv")
    import pyarrow.csv as pcsv

    pcsv.write_csv(base, text)
    lines = text.read_text().splitlines()
    p.write_text(lines[0] + ",ELep\n" + "\n".join(line + ",0.5" for line in lines[1:]) + "\n")
    out["duplicate_csv"] = (p, ("'ELep'",))
    q = d / "ev_truncated.root"
    from aiva.events import write_events

    good_root = write_events(w["table"], d / "good.root")
    q.write_bytes(good_root.read_bytes()[:2000])
    out["truncated_root"] = (q, ("truncated",))
    q = d / "ev_text.root"
    q.write_text("this is not a ROOT file\n")
    out["text_root"] = (q, ("ROOT",))
    return out


def _corpus(w) -> list[tuple[str, list[str], tuple[str, ...]]]:
    """(case id, argv, needles): every argv must exit 2 with one line holding every needle."""
    d = w["dir"]
    g, ref = str(w["good"]), str(w["ref"])
    cases = []
    for name, (mp, needles) in _bad_models(d).items():
        needles = (mp.stem, *needles)
        cases.append((f"generate-model-{name}", ["generate", "--model", str(mp), "--energy", "1", "--events", "10",
                                                 "-o", str(d / "o.parquet")], needles))
        cases.append((f"transfer-base-{name}", ["transfer", "--base", str(mp), "--data", g, "--out",
                                                str(d / f"tl_{name}"), "-q"], needles))
        cases.append((f"registry-add-{name}", ["registry", "--registry", str(d / f"reg_{name}"), "add", "toy",
                                               "--model", str(mp)], needles))
    for name, (cp, needles) in _bad_configs(d).items():
        cases.append((f"train-config-{name}", ["train", "--family", "flow", "--data", g, "--out",
                                               str(d / f"tr_{name}"), "--config", str(cp), "-q"], (cp.name, *needles)))
    for name, (ep, needles) in _bad_events(w).items():
        cases.append((f"compare-events-{name}", ["compare", str(ep), g, "--no-c2st"], (ep.name, *needles)))
        cases.append((f"train-events-{name}", ["train", "--family", "flow", "--data", str(ep), "--out",
                                               str(d / f"te_{name}"), "-q"], (ep.name, *needles)))
    (d / "afile").write_text("x")
    (d / "adir").mkdir(exist_ok=True)
    (d / "flux.root").write_text("not root\n")
    mixed = d / "mixed_ref.parquet"
    from aiva.events import EventTable, read_events, write_events

    r = read_events(ref)
    cols = dict(r.columns)
    cols["tgta"] = np.where(np.arange(len(r)) % 2 == 0, 16, 12)
    cols["tgtz"] = np.where(np.arange(len(r)) % 2 == 0, 8, 6)
    write_events(EventTable(cols, {}), mixed)
    sim = ["simulate", "--events", "100", "-o"]
    cases += [
        ("simulate-huge", ["simulate", "--events", str(10 ** 12), "-o", str(d / "h.parquet")], ("--events", "GiB")),
        ("generate-huge", ["generate", "--model", BASE, "--energy", "1", "--events", str(10 ** 12), "-o",
                           str(d / "h.parquet")], ("--events", "GiB")),
        ("simulate-energy-nan", ["simulate", "--energy", "nan", "-o", str(d / "x.parquet")], ("--energy", "finite")),
        ("simulate-energy-inf", ["simulate", "--energy", "inf", "-o", str(d / "x.parquet")], ("--energy",)),
        ("simulate-energy-negative", ["simulate", "--energy", "-1", "-o", str(d / "x.parquet")], ("--energy",)),
        ("simulate-seed-negative", ["simulate", "--seed", "-1", "-o", str(d / "x.parquet")], ("--seed",)),
        ("simulate-events-zero", ["simulate", "--events", "0", "-o", str(d / "x.parquet")], ("--events",)),
        ("simulate-events-text", ["simulate", "--events", "many", "-o", str(d / "x.parquet")], ("--events",)),
        ("simulate-out-dir", sim + [str(d / "adir")], ("adir", "directory")),
        ("simulate-out-under-file", sim + [str(d / "afile" / "x.parquet")], ("afile", "is a file")),
        ("simulate-out-suffix", sim + [str(d / "x.txt")], ("x.txt", "file type")),
        ("simulate-flux-text-root", ["simulate", "--flux", str(d / "flux.root") + ":h", "--events", "100", "-o",
                                     str(d / "x.parquet")], ("flux.root",)),
        ("simulate-target", ["simulate", "--target", "Pu239", "-o", str(d / "x.parquet")], ("Pu239",)),
        ("generate-device-cuda", ["generate", "--model", BASE, "--energy", "1", "--events", "10", "--device", "cuda",
                                  "-o", str(d / "x.parquet")], ("--device", "CUDA")),
        ("generate-ensemble-file", ["generate", "--ensemble", str(d / "afile"), "--energy", "1", "--events", "10",
                                    "-o", str(d / "b.json")], ("afile",)),
        ("generate-model-missing", ["generate", "--model", "no-such-model", "--energy", "1", "-o",
                                    str(d / "x.parquet")], ("no-such-model",)),
        ("generate-extrapolate", ["generate", "--model", BASE, "--energy", "50", "--events", "10", "-o",
                                  str(d / "x.parquet")], ("trained range",)),
        ("xsec-points-zero", ["xsec", "--points", "0"], ("--points",)),
        ("train-threads-negative", ["train", "--data", g, "--out", str(d / "t"), "--threads", "-1"], ("--threads",)),
        ("train-epochs-zero", ["train", "--data", g, "--out", str(d / "t"), "--epochs", "0"], ("--epochs",)),
        ("train-out-file", ["train", "--data", g, "--out", str(d / "afile"), "-q"], ("afile", "is a file")),
        ("train-data-missing", ["train", "--data", str(d / "nope.parquet"), "--out", str(d / "t"), "-q"],
         ("nope.parquet", "no such file")),
        ("update-holdout-zero", ["update", "--model", "x", "--holdout", "0"], ("--holdout",)),
        ("update-holdout-big", ["update", "--model", "x", "--holdout", "1.5"], ("--holdout",)),
        ("evaluate-reference-mixed", ["evaluate", "--model", BASE, "--reference", str(mixed), "--out",
                                      str(d / "ev"), "--no-c2st"], ("mixed_ref.parquet", "tgta")),
        ("evaluate-reference-small", ["evaluate", "--model", BASE, "--reference", g, "--out", str(d / "ev2"),
                                      "--no-c2st"], ("good.parquet", "Enu_true")),
        ("escat-predict-energy", ["escat", "predict", "--energy", "-1", "--angle", "30", "--omega", "0.1", "0.5",
                                  "-o", str(d / "e.csv")], ("--energy",)),
        ("escat-predict-angle", ["escat", "predict", "--energy", "1", "--angle", "200", "--omega", "0.1", "0.5",
                                 "-o", str(d / "e.csv")], ("--angle",)),
        ("predict-xsec-negative", ["predict", "--measurement", "t2k-ccinc-2018-C", "--events", g, "--xsec", "-1",
                                   "--out", str(d / "p")], ("--xsec",)),
        ("predict-events-unweighted", ["predict", "--measurement", "t2k-ccinc-2018-C", "--events", g, "--out",
                                       str(d / "p")], ("good.parquet", "'weight'")),
        ("compare-json-dir", ["compare", g, g, "--json", str(d / "adir")], ("--json", "directory")),
    ]
    return cases


def test_bad_input_corpus(work, capsys):
    """The whole corpus in one test (its inputs share files); failures are listed together."""
    cases = _corpus(work)
    failures = []
    for cid, argv, needles in cases:
        capsys.readouterr()
        try:
            rc = main(argv)
        except BaseException as exc:  # noqa: BLE001 - a leak of any exception is a failure of the case
            failures.append(f"{cid}: raised {type(exc).__name__}: {exc}")
            continue
        err = capsys.readouterr().err.strip()
        if rc != 2:
            failures.append(f"{cid}: exit {rc}, stderr {err[-300:]!r}")
        elif "\n" in err or "Traceback" in err:
            failures.append(f"{cid}: not one line: {err[-300:]!r}")
        else:
            missing = [s for s in needles if s not in err]
            if missing:
                failures.append(f"{cid}: message lacks {missing}: {err!r}")
    print(f"bad-input corpus: {len(cases)} cases, {len(cases) - len(failures)} passed")
    assert len(cases) >= 100
    assert not failures, "\n".join(failures)


def test_internal_errors_exit_70_without_traceback(monkeypatch, capsys, work):
    import aiva.cli

    def boom(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(aiva.cli.measurements, "_cmd_fluxes", boom)
    assert main(["fluxes"]) == 70
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err and "--debug" in err and len(err.strip().splitlines()) == 1
    assert main(["--debug", "fluxes"]) == 70
    assert "Traceback" in capsys.readouterr().err


# ---------------------------------------------------------------------- checkpoints and resume
def _toy_training(out: Path, data: np.ndarray, *, seed: int = 3, epochs: int = 3, resume: bool = True):
    from aiva.models.flow import FlowConfig
    from aiva.training.configs import FlowTrainConfig
    from aiva.training.direct import train_direct

    tcfg = FlowTrainConfig(epochs=epochs, batch_size=512, seed=seed, threads=1)
    return train_direct("flow", data, {}, out, model_config=FlowConfig(transforms=2, bins=4, hidden=8, layers=1),
                        train_config=tcfg, card={"name": "toy"}, resume=resume, progress=False)


@pytest.fixture(scope="module")
def proxies():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.9, 0.9, (3000, 3)).astype(np.float32)
    return x


def _untimed(meta: dict) -> dict:
    return {**meta, "history": [{k: v for k, v in h.items() if k != "seconds"} for h in meta["history"]]}


def test_injected_crash_between_any_two_writes_resumes_to_the_same_weights(tmp_path, proxies, monkeypatch):
    """Kill the run (an exception) at every os.replace of a training — each is the completion
    of one file write — then resume: the final model and checkpoint are byte-identical to an
    uninterrupted run's."""
    ref = tmp_path / "ref"
    calls = {"n": 0}
    real_replace = os.replace

    def counting(src, dst):
        calls["n"] += 1
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", counting)
    _toy_training(ref, proxies)
    n_writes = calls["n"]
    monkeypatch.setattr(os, "replace", real_replace)
    import torch

    from aiva.training.checkpoint import load_checkpoint

    want = {f: (ref / f).read_bytes() for f in ("model.safetensors", "model.json")}
    assert n_writes >= 12
    for k in range(1, n_writes + 1):
        out = tmp_path / f"crash{k}"
        state = {"n": 0}

        def crashing(src, dst, k=k, state=state):
            state["n"] += 1
            if state["n"] == k:
                raise KeyboardInterrupt(f"injected crash before write {k}")
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", crashing)
        with pytest.raises(KeyboardInterrupt):
            _toy_training(out, proxies)
        monkeypatch.setattr(os, "replace", real_replace)
        _toy_training(out, proxies)  # the rerun resumes from whatever the crash left
        assert (out / "model.safetensors").read_bytes() == want["model.safetensors"], k
        assert json.loads((out / "model.json").read_text()) == json.loads(want["model.json"]), k
        t_ref, m_ref = load_checkpoint(ref / "checkpoint")
        t_got, m_got = load_checkpoint(out / "checkpoint")
        assert t_got.keys() == t_ref.keys() and all(torch.equal(t_got[n], t_ref[n]) for n in t_ref), k
        assert _untimed(m_got) == _untimed(m_ref), k  # the record, less wall-clock seconds


def test_resume_refuses_another_run(tmp_path, proxies, capsys):
    from aiva.errors import AivaInputError

    out = tmp_path / "run"
    _toy_training(out, proxies, epochs=1)
    other = proxies.copy()
    other[0, 1] = 0.0
    with pytest.raises(AivaInputError, match=r"another run \(the training data differ\).*--no-resume"):
        _toy_training(out, other, epochs=2)
    with pytest.raises(AivaInputError, match=r"the seed differs \(3 then, 4 now\)"):
        _toy_training(out, proxies, seed=4, epochs=2)
    _toy_training(out, proxies, epochs=2)  # more epochs of the same run: resumed
    _toy_training(out, other, epochs=1, resume=False)  # --no-resume starts afresh


def test_second_training_into_a_locked_folder_is_refused(tmp_path, work, capsys):
    from aiva.training.checkpoint import run_lock

    out = tmp_path / "busy"
    with run_lock(out):
        rc = main(["train", "--family", "flow", "--data", str(work["good"]), "--out", str(out), "--epochs", "1", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "another training is writing into this folder" in err and str(out) in err


def test_large_generation_is_streamed_in_chunks(tmp_path, monkeypatch):
    """Above STREAM_CHUNK events, generate writes Parquet chunk by chunk (memory holds one chunk):
    every event is there, flux weights still sum to <sigma>, the same seed gives the same bytes."""
    import aiva.training.run as run
    from aiva.events import read_events

    monkeypatch.setattr(run, "STREAM_CHUNK", 4000)
    monkeypatch.setattr(run, "BLOCK", 4000)
    kw = dict(model=BASE, n_events=10_000, seed=3, flux="t2k-nd280-numu", flux_range=(0.3, 10.0))
    assert run.generate_to_file(output=tmp_path / "a.parquet", **kw) is None
    run.generate_to_file(output=tmp_path / "b.parquet", **kw)
    t = read_events(tmp_path / "a.parquet")
    assert len(t) == 10_000 and t.metadata["streamed"]["blocks"] == 3
    one = run.generate_to_file(output=tmp_path / "c.parquet", **{**kw, "n_events": 3000})  # one chunk: not streamed
    assert t["weight"].sum() == pytest.approx(one["weight"].sum(), rel=1e-9)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_shards_concatenated_are_the_whole_run_whatever_their_number(tmp_path, monkeypatch, capsys):
    """generate --shard K/N: each shard makes its blocks only; the shards concatenated in order
    are exactly the events of the unsharded blocked run (--shard 1/1 and the streamed file), for
    N = 3 and N = 4, flux weights included (each event weighs <sigma>/N_run)."""
    import aiva.training.run as run
    from aiva.events import EventTable, read_events

    monkeypatch.setattr(run, "BLOCK", 1000)
    monkeypatch.setattr(run, "STREAM_CHUNK", 2000)
    kw = dict(model=BASE, n_events=5500, seed=7, flux="t2k-nd280-numu", flux_range=(0.3, 10.0))
    whole = run.generate_to_file(output=tmp_path / "whole.parquet", shard=(1, 1), **kw)
    run.generate_to_file(output=tmp_path / "streamed.parquet", **kw)
    streamed = read_events(tmp_path / "streamed.parquet")
    for n in (3, 4):
        parts = [run.generate_to_file(output=tmp_path / f"s{k}of{n}.parquet", shard=(k, n), **kw)
                 for k in range(1, n + 1)]
        union = EventTable.concatenate(parts)
        for c in whole.names:
            assert np.array_equal(union[c], whole[c]), (n, c)
    for c in whole.names:
        assert np.array_equal(streamed[c], whole[c]), c
    assert whole["weight"].sum() == pytest.approx(
        run.generate_to_file(output=tmp_path / "one.parquet", **{**kw, "n_events": 900})["weight"].sum(), rel=1e-9)
    assert main(["generate", "--model", BASE, "--energy", "1", "--events", "100", "--shard", "3/2", "-o",
                 str(tmp_path / "x.parquet")]) == 2
    assert "--shard" in capsys.readouterr().err
    assert main(["generate", "--model", BASE, "--energy", "1", "--events", "1500", "--shard", "1/5", "-o",
                 str(tmp_path / "x.parquet")]) == 2
    assert "at most 2 shards" in capsys.readouterr().err

