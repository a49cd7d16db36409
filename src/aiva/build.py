"""Building the shipped models from declared recipes (``configs/shipped.toml``).

One table per model says how it is made: its kind (``train``, ``transfer``, ``mixture``,
``escat-fit``, ``escat-transfer``), the reference-MC data (target, probe, physics
configuration, channels, energy range, events, seed and the SHA-256 the card records), the
config file, seeds, budget and threads, the parent, and the evaluation that writes the card's
metrics. :class:`Builder` builds a model (and, on request, its parents) into an output folder
laid out like the package's ``data/models`` (escat models under ``escat/``);
:func:`check_model` rebuilds one model into a temporary folder and compares its freshly measured
metrics with the shipped card's within the tolerances of the recipe file's ``[check]`` tables.
``tools/build_models.py`` is the command line. Nothing here writes into the package unless
:func:`install` is called.
"""
from __future__ import annotations

import logging

import copy
import hashlib
import json
import shutil
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

from aiva.errors import AivaInputError
from aiva.utils import atomic_write_text

log = logging.getLogger(__name__)

KINDS = ("train", "transfer", "mixture", "distil", "distil-gan", "store", "escat-fit", "escat-transfer", "escat-joint")
GENERATOR_KINDS = ("train", "transfer", "mixture", "distil", "distil-gan", "store")
EVALUATIONS = {"quality": "evaluation", "transfer": "benchmark_transfer"}  #: evaluation kind -> card key
_REQUIRED = {"train": ("family", "data", "config", "evaluation"),
             "transfer": ("parent", "data", "training", "evaluation"),
             "mixture": ("parent", "data", "training", "members", "evaluation"),
             "distil-gan": ("parent", "student", "distil", "evaluation"),
             "distil": ("parent", "teacher", "data", "training", "distil", "evaluation"),
             "store": ("parent", "store", "evaluation"),
             "escat-fit": ("target", "test_fraction", "split_seed", "net", "fit"),
             "escat-transfer": ("parent", "target", "train_fraction", "split_seed"),
             "escat-joint": ("members", "steps", "seed", "split_seed", "kappa")}
_DATA_KEYS = ("target", "probe", "config", "channels", "energy_range", "events", "seed")


def models_dir() -> Path:
    from aiva.models.io import MODELS_DIR

    return MODELS_DIR


def shipped_files() -> dict[str, Path]:
    """{name: weights} of every model in the package: generators and electron-scattering models."""
    from aiva.escat.io import MODELS_DIR as ESCAT_DIR

    files = {p.stem: p for p in sorted(models_dir().glob("*.safetensors"))}
    files.update({p.stem: p for p in sorted(ESCAT_DIR.glob("*.safetensors"))})
    return files


# --------------------------------------------------------------------------------- the recipes
def load_recipes(path) -> dict:
    """Read and check a recipe file: every model has a known kind and the keys it needs, every
    data set it names is declared with all of target, probe, config, channels, energy_range,
    events and seed, and every parent recipe exists. Errors name the file and the key."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise AivaInputError(f"{path}: recipe file cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AivaInputError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(doc) - {"check", "defaults", "data", "models"}
    if unknown:
        raise AivaInputError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}")
    models, data = doc.get("models") or {}, doc.get("data") or {}
    if not models:
        raise AivaInputError(f"{path}: no [models.NAME] tables")
    for key, d in data.items():
        miss = [k for k in _DATA_KEYS if k not in d]
        if miss:
            raise AivaInputError(f"{path}: data.{key}: missing key(s) {', '.join(miss)}")
    for name, r in models.items():
        kind = r.get("kind")
        if kind not in KINDS:
            raise AivaInputError(f"{path}: models.{name}: key 'kind': {kind!r} is not one of {', '.join(KINDS)}")
        miss = [k for k in _REQUIRED[kind] if k not in r]
        if miss:
            raise AivaInputError(f"{path}: models.{name}: kind {kind} needs key(s) {', '.join(miss)}")
        if "data" in r and r["data"] not in data:
            raise AivaInputError(f"{path}: models.{name}: key 'data': no [data.{r['data']}] table")
        for pkey in ("parent", "teacher", "init"):
            par = r.get(pkey)
            if par is None:
                continue
            if not isinstance(par, dict) or not (par.get("recipe") or par.get("weights_sha256")):
                raise AivaInputError(f"{path}: models.{name}: key '{pkey}': need a table with 'recipe' and/or "
                                     "'weights_sha256'")
            if par.get("recipe") and par["recipe"] not in models:
                raise AivaInputError(f"{path}: models.{name}: key '{pkey}': no recipe {par['recipe']!r}")
        ev = r.get("evaluation")
        if kind in GENERATOR_KINDS and (not isinstance(ev, dict) or ev.get("kind") not in EVALUATIONS):
            raise AivaInputError(f"{path}: models.{name}: key 'evaluation': need a table with kind = "
                                 + " or ".join(repr(k) for k in EVALUATIONS))
        if kind == "mixture" and (not isinstance(r["members"], list) or len(r["members"]) < 2):
            raise AivaInputError(f"{path}: models.{name}: key 'members': need a list of at least 2 tables")
        if kind == "store":
            from aiva.models.io import STORAGE_DTYPES

            st = r["store"]
            bad = (not isinstance(st, dict) or set(st) - {"dtype", "omit_masks"}
                   or st.get("dtype", "float16") not in STORAGE_DTYPES
                   or not isinstance(st.get("omit_masks", True), bool))
            if bad:
                raise AivaInputError(f"{path}: models.{name}: key 'store': need a table with dtype = "
                                     + " or ".join(repr(k) for k in STORAGE_DTYPES) + " and omit_masks = true/false")
    return {"path": path, "check": doc.get("check") or {}, "defaults": doc.get("defaults") or {},
            "data": data, "models": models}


def shipped_recipes(recipes: dict) -> list[str]:
    """Names of the recipes whose models ship (``ship = false`` marks an intermediate parent)."""
    return [n for n, r in recipes["models"].items() if r.get("ship", True)]


def recipe_digest(recipes: dict, name: str) -> str:
    """SHA-256 of the recipe of ``name`` with the data table it names (canonical JSON)."""
    r = recipes["models"][name]
    blob = {"model": r, "data": recipes["data"].get(r.get("data"))}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def build_order(recipes: dict, names: list[str], with_parents: bool) -> list[str]:
    """``names`` after their parent recipes (when ``with_parents``), each once."""
    order: list[str] = []

    def visit(n, stack=()):
        if n in order:
            return
        if n in stack:
            raise AivaInputError(f"{recipes['path']}: models.{n}: parent chain loops ({' -> '.join(stack + (n,))})")
        for pkey in ("parent", "teacher", "init"):
            par = (recipes["models"][n].get(pkey) or {}).get("recipe")
            if with_parents and par:
                visit(par, stack + (n,))
        order.append(n)

    for n in names:
        if n not in recipes["models"]:
            raise AivaInputError(f"{recipes['path']}: no recipe {n!r} (known: {', '.join(recipes['models'])})")
        visit(n)
    return order


def describe(recipes: dict) -> list[dict]:
    """One row per recipe for ``--list``."""
    rows = []
    for name, r in recipes["models"].items():
        d = recipes["data"].get(r.get("data")) or {}
        if r["kind"] == "escat-joint":
            data = f"every shipped target's data, test 0.1 at split seed {r['split_seed']}, {r['steps']} steps"
            seed = r["seed"]
        elif r["kind"] == "distil-gan":
            data = f"fresh samples of the parent, {r['distil'].get('steps', 'default')} steps"
            seed = r["distil"].get("seed", 1)
        elif r["kind"] == "store":
            data = (f"the parent's weights as {r['store'].get('dtype', 'float16')}"
                    + (", masks rebuilt from the architecture" if r["store"].get("omit_masks", True) else ""))
            seed = "-"
        elif r["kind"].startswith("escat"):
            data = f"{r['target']} data, " + (f"train {1 - r['test_fraction']:g}" if "test_fraction" in r
                                              else f"train {r['train_fraction']:g}") + f", split seed {r['split_seed']}"
            seed = (r.get("fit") or {}).get("seed", 1)
        else:
            data = (f"{d['probe']} {d['target']} {d['config']} {','.join(d['channels'])} {d['events']:,} ev "
                    f"seed {d['seed']}")
            seeds = [m.get("seed") for m in r.get("members", [])] or [(r.get("training") or {}).get("seed")]
            seed = ",".join(str(s) for s in seeds if s is not None) or "config"
        par = r.get("parent") or {}
        ev = r.get("evaluation") or {}
        rows.append({"name": name, "kind": r["kind"], "ship": r.get("ship", True),
                     "family": r.get("family") or ("escat" if r["kind"].startswith("escat") else "flow"),
                     "data": data, "seed": seed, "parent": par.get("recipe") or par.get("weights_sha256", "")[:12],
                     "cpu_minutes": r.get("cpu_minutes"),
                     "writes": ("metrics." + EVALUATIONS[ev["kind"]]) if ev else "metrics (test/train chi2)",
                     "unknown": r.get("unknown", "")})
    return rows


# ------------------------------------------------------------------------------------ building
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise AivaInputError(f"cannot write {v!r} into a TOML config")


def write_config(path: Path, tables: dict) -> Path:
    lines = []
    for table, kv in tables.items():
        if kv:
            lines += [f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in kv.items()] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines))
    return path


class Builder:
    """Builds recipes into ``out`` (``out/<name>.safetensors|.json``, escat models in
    ``out/escat/``; data, training folders and evaluations in ``out/_work``).

    Parents: with ``rebuild_parents`` a parent recipe is built here first and used whatever its
    hash; otherwise the parent is the file whose SHA-256 is the recipe's ``weights_sha256``:
    one already built in ``out``, the package's, or the one in the git history named by the
    parent recipe's ``git`` key (read with ``git show``)."""

    def __init__(self, recipes: dict, out, *, root=None, rebuild_parents: bool = False, progress: bool = True):
        import torch

        self.recipes = recipes
        self.out = Path(out)
        self.work = self.out / "_work"
        self.root = Path(root) if root else Path(recipes["path"]).resolve().parent.parent
        self.rebuild_parents = rebuild_parents
        self.progress = progress
        self.built: dict[str, Path] = {}
        self.timings: dict[str, float] = {}
        self._default_threads = torch.get_num_threads()

    def say(self, msg: str) -> None:
        if self.progress:
            log.info(msg)

    def _path(self, p) -> Path:
        p = Path(p)
        return p if p.is_absolute() else self.root / p

    def _threads(self, r: dict) -> int:
        import torch

        n = r.get("threads", self.recipes["defaults"].get("threads", 1))
        torch.set_num_threads(int(n) if n else self._default_threads)
        return int(n or 0)

    # ---- data
    def data(self, key: str) -> Path:
        """The reference-MC file of ``[data.KEY]``, simulated once into ``out/_work/data``; its
        SHA-256 must be the declared one (when declared)."""
        from aiva.events import write_events
        from aiva.mc import simulate
        from aiva.models.io import sha256_file

        d = self.recipes["data"][key]
        path = self.work / "data" / f"{key}.parquet"
        if not path.exists():
            self.say(f"data {key}: simulating {d['events']:,} {d['probe']} events on {d['target']} "
                     f"({d['config']}, {','.join(d['channels'])}, E in {d['energy_range']} GeV, seed {d['seed']})")
            t = simulate(d["target"], d["probe"], int(d["events"]), energy_range=tuple(d["energy_range"]),
                         seed=int(d["seed"]), config=d["config"], channels=tuple(d["channels"]), progress=False)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_events(t, path)
        sha = sha256_file(path)
        if d.get("sha256") and sha != d["sha256"]:
            raise AivaInputError(f"data.{key}: the simulated file {path} has SHA-256 {sha[:16]}…, the recipe (the "
                                 f"shipped card) says {d['sha256'][:16]}…: the reference MC changed")
        return path

    # ---- parents
    def parent(self, name: str, key: str = "parent") -> Path:
        """The model a recipe's ``key`` (``parent``, a distillation's ``teacher``, or a distilled
        student's warm start ``init``) names."""
        spec = self.recipes["models"][name][key]
        rec, sha = spec.get("recipe"), spec.get("weights_sha256")
        if rec and (self.rebuild_parents or rec in self.built):
            return self.build(rec)
        from aiva.models.io import sha256_file

        kind = self.recipes["models"][rec]["kind"] if rec else "train"
        cands = []
        if rec:
            sub = "escat/" if kind.startswith("escat") else ""
            cands += [self.out / f"{sub}{rec}.safetensors", shipped_files().get(rec)]
        cands += list(shipped_files().values())
        for c in cands:
            if c is not None and c.exists() and (sha is None or sha256_file(c) == sha):
                if sha is None and c.stem != rec:
                    continue
                self.say(f"{key} of {name}: {c}")
                return c
        git = (self.recipes["models"].get(rec) or {}).get("git") if rec else None
        if git and sha:
            return self._from_git(rec, git, sha)
        raise AivaInputError(f"models.{name}: {key} {rec or ''} with SHA-256 {str(sha)[:16]}… is neither built, "
                             "shipped nor in the git history (build it with --rebuild-parents)")

    def _from_git(self, rec: str, git: dict, sha: str) -> Path:
        from aiva.models.io import sha256_file

        dest = self.work / "parents" / git["commit"] / rec
        dest.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".safetensors", ".json"):
            try:
                blob = subprocess.run(["git", "-C", str(self.root), "show", f"{git['commit']}:{git['path']}{suffix}"],
                                      check=True, capture_output=True).stdout
            except (OSError, subprocess.CalledProcessError) as exc:
                err = getattr(exc, "stderr", b"") or b""
                raise AivaInputError(f"models.{rec}: key 'git': cannot read {git['path']}{suffix} at {git['commit']} "
                                     f"({err.decode(errors='replace').strip() or exc})") from None
            dest.with_suffix(suffix).write_bytes(blob)
        w = dest.with_suffix(".safetensors")
        if sha256_file(w) != sha:
            raise AivaInputError(f"models.{rec}: {git['path']}.safetensors at {git['commit']} does not have SHA-256 "
                                 f"{sha[:16]}…")
        self.say(f"parent {rec}: {git['path']}.safetensors from git commit {git['commit']}")
        return w

    # ---- one model
    def build(self, name: str) -> Path:
        if name in self.built:
            return self.built[name]
        r = self.recipes["models"][name]
        t0 = time.process_time()
        w0 = time.time()
        self.say(f"== {name} ({r['kind']})")
        fn = {"train": self._train, "transfer": self._transfer, "mixture": self._mixture, "distil": self._distil,
              "distil-gan": self._distil_gan, "store": self._store,
              "escat-fit": self._escat_fit, "escat-transfer": self._escat_transfer,
              "escat-joint": self._escat_joint}[r["kind"]]
        path = fn(name, r)
        self.built[name] = path
        self.timings[name] = time.time() - w0
        self.say(f"{name}: {path} ({(time.process_time() - t0) / 60:.1f} CPU min, {(time.time() - w0) / 60:.1f} min)")
        return path

    def _recipe_record(self, name: str, r: dict, data_path: Path | None = None, seeds=None) -> dict:
        from aiva.models.io import sha256_file

        rel = self.recipes["path"]
        try:
            rel = Path(rel).resolve().relative_to(self.root.resolve())
        except ValueError:
            pass
        rec = {"file": str(rel), "name": name, "kind": r["kind"], "sha256": recipe_digest(self.recipes, name),
               "tool": "tools/build_models.py"}
        if data_path is not None:
            rec["data"] = {"key": r["data"], "sha256": sha256_file(data_path)}
        if seeds is not None:
            rec["seeds"] = seeds
        return rec

    def _training_toml(self, name: str, r: dict, tag: str, extra: dict | None = None) -> Path:
        tables: dict[str, dict] = {"model": {}, "training": {}}
        if r.get("config"):
            cfg = self._path(r["config"])
            try:
                base = tomllib.loads(cfg.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise AivaInputError(f"models.{name}: key 'config': {cfg}: {exc}") from None
            tables = {"model": dict(base.get("model") or {}), "training": dict(base.get("training") or {})}
        tables["training"].update(r.get("training") or {})
        tables["training"].update(extra or {})
        threads = self._threads(r)
        if threads:
            tables["training"].setdefault("threads", threads)
        else:
            tables["training"].pop("threads", None)
        return write_config(self.work / name / f"{tag}.toml", tables)

    def _finish(self, name: str, r: dict, weights: Path, updates: dict) -> Path:
        """Copy a trained generator to ``out/<name>`` with its card renamed, the recipe recorded
        and the evaluation's metrics written."""
        from aiva.models.io import read_card

        card = read_card(weights)
        card["name"] = name
        card.update({k: v for k, v in updates.items() if k != "metrics"})
        card.setdefault("metrics", {}).update(updates.get("metrics", {}))
        dest = self.out / f"{name}.safetensors"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights, dest)
        atomic_write_text(dest.with_suffix(".json"), json.dumps(card, indent=2) + "\n")
        return dest

    def _train(self, name: str, r: dict) -> Path:
        from aiva.training.run import train_from_files

        data = self.data(r["data"])
        cfg = self._training_toml(name, r, "config")
        res = train_from_files(data=data, out=self.work / name / "train", config=cfg, family=r["family"], name=name,
                               progress=self.progress)
        seed = tomllib.loads(cfg.read_text())["training"].get("seed")
        return self._evaluated(name, r, Path(res["model"]), self._recipe_record(name, r, data, seed))

    def _transfer(self, name: str, r: dict) -> Path:
        from aiva.training.run import transfer_from_files

        data, parent = self.data(r["data"]), self.parent(name)
        cfg = self._training_toml(name, r, "config")
        res = transfer_from_files(base=parent, data=data, out=self.work / name / "train", config=cfg,
                                  freeze=r.get("freeze"), name=name, progress=self.progress)
        record = self._recipe_record(name, r, data, r["training"].get("seed"))
        return self._evaluated(name, r, Path(res["model"]), record)

    def _mixture(self, name: str, r: dict) -> Path:
        from aiva.models.io import mix_files
        from aiva.training.run import transfer_from_files

        data, parent = self.data(r["data"]), self.parent(name)
        members = []
        for k, m in enumerate(r["members"]):
            self.say(f"{name}: member {k + 1}/{len(r['members'])} ({', '.join(f'{a} {b}' for a, b in m.items())})")
            cfg = self._training_toml(name, r, f"member-{k}", extra=m)
            res = transfer_from_files(base=parent, data=data, out=self.work / name / f"member-{k}", config=cfg,
                                      freeze=r.get("freeze"), name=f"{name}-member{k}", progress=self.progress)
            members.append(res["model"])
        mixed = mix_files(members, self.work / name / "mixture.safetensors", name=name)
        seeds = [m.get("seed") for m in r["members"]]
        return self._evaluated(name, r, mixed, self._recipe_record(name, r, data, seeds))

    def _distil_gan(self, name: str, r: dict) -> Path:
        """``distil-gan``: a GAN-architecture student (``student``: GANConfig keys) regressed on
        the parent's sampler (``distil``: :class:`aiva.models.distil.DistilConfig` keys), starting
        from the weights of the student that the optional ``init`` names (a warm start), then the
        recipe's evaluation and, with ``speed = true`` (or a table of
        :func:`aiva.models.generate.one_thread_speed`'s events, repeats, energy), the one-thread
        speed (``metrics.speed``)."""
        from aiva.models.distil import distil_to_file

        parent = self.parent(name)
        init = self.parent(name, "init") if r.get("init") else None
        self._threads(r)
        res = distil_to_file(parent, self.work / name / "model.safetensors", student=r["student"],
                             settings=r["distil"], name=name, init=init)
        record = self._recipe_record(name, r, None, r["distil"].get("seed", 1))
        path = self._evaluated(name, r, Path(res["model"]), record)
        spec = r.get("speed")
        if spec:
            from aiva.models.generate import one_thread_speed

            kw = {k: spec[k] for k in ("events", "repeats", "energy") if k in spec} if isinstance(spec, dict) else {}
            card = _card_of(path)
            card["metrics"]["speed"] = one_thread_speed(path, **kw)
            atomic_write_text(path.with_suffix(".json"), json.dumps(card, indent=2) + "\n")
        return path

    def _store(self, name: str, r: dict) -> Path:
        """``store``: the parent's weights stored compactly (:func:`aiva.models.io.store_as`:
        ``store.dtype``, default float16, and ``store.omit_masks``, default true), then the
        recipe's evaluation of the stored file: the metrics are those of the weights shipped."""
        from aiva.models.io import store_as

        w = store_as(self.parent(name), self.work / name / "model.safetensors", **r["store"])  # keys checked on load
        return self._evaluated(name, r, w, self._recipe_record(name, r))

    def _distil(self, name: str, r: dict) -> Path:
        """One flow fine-tuned from ``parent`` (or, with ``parent.member = k``, from member k of a
        mixture parent) on ``distil.samples`` events drawn from ``teacher`` (a mixture built from
        the same training events) and the training events themselves
        (:func:`aiva.training.run.distillation_proxies`)."""
        from aiva.events import read_events
        from aiva.models.io import load_model, sha256_file
        from aiva.training.run import transfer_table

        data, parent, teacher = self.data(r["data"]), self.parent(name), self.parent(name, "teacher")
        pnet, pcard = load_model(parent)
        tnet, tcard = load_model(teacher)
        k = r["parent"].get("member")
        if k is not None:  # start from member k of a mixture parent (e.g. one of the teacher's fine-tunes)
            members = getattr(pnet, "members", None)
            if members is None or not 0 <= int(k) < len(members):
                raise AivaInputError(f"models.{name}: key 'parent': member {k} needs a mixture parent with more "
                                     "members")
            pnet, pcard = members[int(k)], {**pcard, "name": f"{pcard.get('name')} member {int(k)}"}
        cfg = self._training_toml(name, r, "config")
        res = transfer_table(pnet, pcard, read_events(data), out=self.work / name / "train",
                             source=(data.name, sha256_file(data)), label=str(data), freeze=r.get("freeze"), config=cfg,
                             name=name, progress=self.progress, teacher=tnet, teacher_card=tcard, distil=r["distil"])
        record = self._recipe_record(name, r, data, r["training"].get("seed"))
        return self._evaluated(name, r, Path(res["model"]), record)

    def _evaluated(self, name: str, r: dict, weights: Path, record: dict) -> Path:
        key, metrics = evaluate_recipe(weights, r["evaluation"], self.work / name / "evaluation")
        self.say(f"{name}: metrics.{key}: mean MAP {metrics['mean_MAP']:.3f}")
        return self._finish(name, r, weights, {"recipe": record, "metrics": {key: metrics}})

    # ---- electron scattering
    def _escat_fit(self, name: str, r: dict) -> Path:
        from aiva.escat.data import (PAPER_EXCLUDED, apply_cut, exclude_datasets, load_target, spectrum_edges, split,
                                     with_error_floor)
        from aiva.escat.fit import FitConfig, chi2_terms, fit
        from aiva.escat.io import save_xsec_model
        from aiva.escat.model import ESConfig

        self._threads(r)
        excl = r.get("exclude", "paper")
        excl = PAPER_EXCLUDED.get(r["target"], []) if excl == "paper" else list(excl)
        d, _ = exclude_datasets(load_target(r["target"]), excl)
        d, n_cut = apply_cut(with_error_floor(d, float(r.get("err_floor", 0.0))))
        tr, te = split(d, 1 - float(r["test_fraction"]), int(r["split_seed"]))
        fcfg = FitConfig()
        for k, v in r["fit"].items():
            setattr(fcfg, k, v)
        t0 = time.time()
        m = fit(tr, ESConfig(**r["net"]), fcfg, progress=self.progress)
        metrics: dict = {"n_points": len(d), "n_cut": n_cut, "n_train": len(tr), "n_test": len(te), "members": fcfg.members,
                   "seconds": time.time() - t0, "test": chi2_terms(m, te, edge=spectrum_edges(tr, te)),
                   "train": chi2_terms(m, tr)}
        self.say(f"{name}: test chi2/N {metrics['test']['chi2_per_N']:.3f}")
        path = save_xsec_model(m, self.out / "escat" / name, half=True,
                               extra={"name": name, "metrics": metrics,
                                      "recipe": self._recipe_record(name, r, seeds=fcfg.seed)})
        return path

    def _escat_joint(self, name: str, r: dict) -> Path:
        """The nucleus-conditioned ensemble over every shipped target (:func:`aiva.escat.joint.fit_joint`);
        its band-widening κ is declared in the recipe (it comes from the leave-one-nucleus-out fits)."""
        from aiva.escat.data import spectrum_edges
        from aiva.escat.joint import fit_joint, save_joint

        self._threads(r)
        jm, splits = fit_joint(members=int(r["members"]), steps=int(r["steps"]), seed=int(r["seed"]),
                               split_seed=int(r["split_seed"]), coulomb=bool(r.get("coulomb", True)),
                               inputs=r.get("inputs", "prc110+log+nucleus"), threads=r.get("threads"))
        jm.kappa = float(r["kappa"])
        metrics = {t: {"test_chi2_per_N": jm.chi2(te, edge=spectrum_edges(tr, te))["chi2_per_N"]}
                   for t, (tr, te) in splits.items()}
        self.say(f"{name}: test chi2/N " + ", ".join(f"{t} {v['test_chi2_per_N']:.2f}" for t, v in metrics.items()))
        return save_joint(jm, self.out / "escat" / name, half=True,
                          extra={"name": name, "metrics": metrics,
                                 "recipe": self._recipe_record(name, r, seeds=int(r["seed"]))})

    def _escat_transfer(self, name: str, r: dict) -> Path:
        from aiva.escat.io import load_xsec_model
        from aiva.escat.run import transfer

        self._threads(r)
        carbon = load_xsec_model(self.parent(name))
        base = copy.copy(carbon)
        k = min(int(r.get("parent_members", carbon.net.members)), carbon.net.members)
        base.net = carbon.net.subset(range(k))
        base.lam = carbon.lam[:k]
        work = self.work / name
        res = transfer(base_model=base, target=r["target"], train_fraction=float(r["train_fraction"]),
                       split_seed=int(r["split_seed"]), blocks=r.get("blocks", "all"), epochs=r.get("epochs"),
                       seed=r.get("seed"), baselines=r.get("baselines", True), progress=self.progress, out=work)
        src = work / f"escat-{res['target']}.safetensors"
        dest = self.out / "escat" / f"{name}.safetensors"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        card = json.loads(src.with_suffix(".json").read_text())
        card["name"] = name
        card["recipe"] = self._recipe_record(name, r, seeds=(card.get("fit") or {}).get("seed"))
        atomic_write_text(dest.with_suffix(".json"), json.dumps(card, indent=1) + "\n")
        return dest


# ---------------------------------------------------------------------------------- evaluation
def evaluate_recipe(weights, spec: dict, out_dir) -> tuple[str, dict]:
    """The evaluation a recipe declares, as (card key under ``metrics``, metrics).

    ``quality`` (``metrics.evaluation``): :func:`aiva.training.evaluate.evaluate_model` against
    ``events`` (10⁶) fresh reference-MC events per test energy, reference seed
    ``reference_seed`` + i (4242, as ``aiva evaluate --simulate``), generation seed 1 + i, C2ST
    unless ``c2st = false``; ``uniform = true`` adds MAP-3D on ``events`` events uniform in the
    model's energy range (seed 4343, as benchmarks/families.py). ``transfer``
    (``metrics.benchmark_transfer``): the same without C2ST, reference seed ``reference_seed``;
    mean MAP, MAP and mean EMD of E'_μ over the energies, rounded as transfer_recipes.py with
    ``round = true``."""
    import numpy as np

    from aiva.mc import simulate
    from aiva.models.io import load_model
    from aiva.training.evaluate import TEST_ENERGIES, evaluate_model, reference_tables  # (moves in #23's redesign)

    net, card = load_model(weights)
    kind = spec["kind"]
    events = int(spec.get("events", 1_000_000))
    energies = tuple(float(e) for e in spec.get("energies", TEST_ENERGIES))
    seed = int(spec.get("reference_seed", 4242))
    refs = reference_tables(card, energies, events, seed=seed)
    cfg = ((card.get("training") or {}).get("data_metadata") or {}).get("config") or {}
    desc = f"{events:,} fresh reference-MC events per energy, seeds {seed} + i (aiva.build.evaluate_recipe)"
    if kind == "quality":
        uni = None
        if spec.get("uniform"):
            lo, hi = card.get("energy_range_GeV", [0.3, 10.0])
            uni = simulate(card.get("target", "C12"), card.get("probe", "numu"), events, energy_range=(lo, hi),
                           seed=int(spec.get("uniform_seed", 4343)), config=cfg.get("name", "default"),
                           channels=tuple(card.get("channels", ("qe", "res", "dis"))))
        res = evaluate_model(net, card, refs, Path(out_dir), seed=int(spec.get("seed", 1)), uniform_reference=uni,
                             c2st=bool(spec.get("c2st", True)), figures=False)
        res["reference"] = desc
        return EVALUATIONS[kind], res
    res = evaluate_model(net, card, refs, Path(out_dir), seed=int(spec.get("seed", 1)), c2st=False, figures=False)
    per = dict(sorted(res["per_energy"].items(), key=lambda kv: float(kv[0])))
    MAP = {e: v["MAP"] for e, v in per.items()}
    EMD = {e: v["EMD_Emu_p"] for e, v in per.items()}
    if spec.get("round"):
        MAP = {e: round(v, 3) for e, v in MAP.items()}
        EMD = {e: round(v, 4) for e, v in EMD.items()}
    return EVALUATIONS[kind], {"mean_MAP": float(np.mean(list(MAP.values()))), "MAP": MAP,
                               "mean_EMD_Emu_p": float(np.mean(list(EMD.values()))), "reference": desc}


# ------------------------------------------------------------------------------------ checking
def _card_of(path: Path) -> dict:
    return json.loads(Path(path).with_suffix(".json").read_text())


def _per_energy_map(ev: dict) -> dict:
    if isinstance(ev.get("MAP"), dict):
        return {str(float(k)): v for k, v in ev["MAP"].items()}
    return {str(float(k)): v["MAP"] for k, v in (ev.get("per_energy") or {}).items() if "MAP" in v}


def compare_cards(shipped: dict, rebuilt: dict, recipe: dict, check: dict) -> list[dict]:
    """Rows (quantity, shipped, rebuilt, difference, tolerance, ok) comparing a rebuilt card
    with the shipped one: data and parent hashes exactly, the weights' hash for information,
    the evaluation's metrics within the ``[check.<evaluation>]`` tolerances."""
    rows = []

    def row(q, a, b, tol=None, exact=False, info=False):
        if exact or info:
            ok = a == b
            rows.append({"quantity": q, "shipped": a, "rebuilt": b, "diff": "same" if ok else "differs",
                         "tolerance": "info" if info else "exact", "ok": ok or info})
            return
        d = abs(float(b) - float(a))
        rows.append({"quantity": q, "shipped": float(a), "rebuilt": float(b), "diff": d, "tolerance": tol,
                     "ok": d <= tol})

    if recipe["kind"] in GENERATOR_KINDS:
        sd = (shipped.get("training", {}).get("data") or [{}])[0].get("sha256")
        rd = (rebuilt.get("training", {}).get("data") or [{}])[0].get("sha256")
        row("training data SHA-256", sd, rd, exact=True)
        sp, rp = (shipped.get("parent") or {}), (rebuilt.get("parent") or {})
        if sp or rp:
            row("parent weights SHA-256", sp.get("weights_sha256"), rp.get("weights_sha256"), exact=True)
        row("weights SHA-256", shipped.get("weights_sha256"), rebuilt.get("weights_sha256"), info=True)
        ekind = recipe["evaluation"]["kind"]
        key, tol = EVALUATIONS[ekind], check.get(ekind, {})
        a, b = shipped.get("metrics", {}).get(key) or {}, rebuilt.get("metrics", {}).get(key) or {}
        if not a:
            raise AivaInputError(f"the shipped card of {shipped.get('name')} has no metrics.{key} to compare with")
        for q in ("mean_MAP", "max_MAP", "max_C2ST_AUC", "mean_EMD_Emu_p"):
            if q in tol and q in a and q in b:
                row(f"{key}.{q}", a[q], b[q], tol[q])
        if "MAP" in tol:
            ma, mb = _per_energy_map(a), _per_energy_map(b)
            for e in sorted(set(ma) & set(mb), key=float):
                row(f"{key}.MAP at {float(e):g} GeV", ma[e], mb[e], tol["MAP"])
    elif recipe["kind"] == "escat-joint":
        tol = check.get("escat", {}).get("test_chi2_per_N_rel", 0.15)
        for t in sorted(set(shipped.get("metrics", {})) & set(rebuilt.get("metrics", {}))):
            a, b = shipped["metrics"][t]["test_chi2_per_N"], rebuilt["metrics"][t]["test_chi2_per_N"]
            row(f"{t} test chi2/N", a, b, tol * abs(a))
    else:
        tol = check.get("escat", {}).get("test_chi2_per_N_rel", 0.15)
        a = shipped["metrics"]["test"]["chi2_per_N"]
        b = rebuilt["metrics"]["test"]["chi2_per_N"]
        row("n_train", shipped["metrics"]["n_train"], rebuilt["metrics"]["n_train"], exact=True)
        row("test chi2/N", a, b, tol * abs(a))
    return rows


def check_model(recipes: dict, name: str, *, tmp=None, keep: bool = False, progress: bool = True) -> dict:
    """Rebuild ``name`` from its recipe into a temporary folder (parents from the package or
    git, by SHA-256) and compare it with the shipped card: {"ok", "rows", "wall_s", "out"}."""
    if name not in recipes["models"]:
        raise AivaInputError(f"{recipes['path']}: no recipe {name!r} (known: {', '.join(recipes['models'])})")
    r = recipes["models"][name]
    shipped = shipped_files().get(name)
    if shipped is None:
        raise AivaInputError(f"{name}: not shipped in {models_dir()}, nothing to check against")
    out = Path(tmp or tempfile.mkdtemp(prefix=f"aiva_check_{name}_"))
    t0 = time.time()
    try:
        b = Builder(recipes, out, progress=progress)
        built = b.build(name)
        rows = compare_cards(_card_of(shipped), _card_of(built), r, recipes["check"])
    finally:
        if not keep and tmp is None:
            shutil.rmtree(out, ignore_errors=True)
    return {"ok": all(x["ok"] for x in rows), "rows": rows, "wall_s": time.time() - t0, "out": str(out)}


def format_rows(rows: list[dict]) -> str:
    def f(v):
        if isinstance(v, float):
            return f"{v:.1e}" if 0 < abs(v) < 1e-3 else f"{v:.4f}"
        s = str(v)
        return s[:16] + "…" if len(s) > 17 else s

    lines = [f"{'quantity':<36s} {'shipped':>18s} {'rebuilt':>18s} {'|diff|':>10s} {'tolerance':>9s}  ok"]
    for x in rows:
        lines.append(f"{x['quantity']:<36s} {f(x['shipped']):>18s} {f(x['rebuilt']):>18s} {f(x['diff']):>10s} "
                     f"{f(x['tolerance']):>9s}  {'yes' if x['ok'] else 'NO'}")
    return "\n".join(lines)


def install(out, names: list[str], recipes: dict) -> list[Path]:
    """Copy built models from ``out`` into the package (``--install``); intermediates
    (``ship = false``) are not installed."""
    from aiva.escat.io import MODELS_DIR as ESCAT_DIR

    done = []
    for n in names:
        r = recipes["models"][n]
        if not r.get("ship", True):
            continue
        sub, dest_dir = ("escat/", ESCAT_DIR) if r["kind"].startswith("escat") else ("", models_dir())
        for suffix in (".safetensors", ".json"):
            src = Path(out) / f"{sub}{n}{suffix}"
            if not src.exists():
                raise AivaInputError(f"{src}: not built; build {n} first")
            shutil.copyfile(src, dest_dir / f"{n}{suffix}")
        done.append(dest_dir / f"{n}.safetensors")
        log.warning(f"installed {n} into {dest_dir}")
    return done
