"""A versioned, append-only store of models and of the decisions that made them.

Layout of a registry directory (default ``$AIVA_REGISTRY`` or ``~/.local/share/aiva/registry``)::

    <model>/versions/v0001/model.safetensors, model.json, version.json
    <model>/holdouts/v0002.parquet          held-out events of the update that made v0002
                                            (``.csv`` points for electron-scattering models)
    <model>/CURRENT                         the name of the current version
    <model>/log.jsonl                       one JSON record per decision (append-only)
    <model>/.lock                           advisory lock (fcntl.flock) around every change

``version.json`` holds the parent version, the SHA-256 of every training and held-out file, the
metrics that decided the promotion and the time. Version folders are written to a temporary name
and renamed into place; ``CURRENT`` is replaced atomically; nothing in a version folder is ever
rewritten, so a rollback restores the earlier bytes exactly. All changes happen under the lock,
so concurrent updates are serialised and none is lost.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from pathlib import Path

from aiva.errors import AivaInputError
from aiva.utils import atomic_write_text


def default_root() -> Path:
    env = os.environ.get("AIVA_REGISTRY")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aiva" / "registry"


class Registry:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else default_root()

    # ------------------------------------------------------------------ paths and reading
    def dir(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise AivaInputError(f"invalid model name {name!r}")
        return self.root / name

    def models(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "CURRENT").exists())

    def versions(self, name: str) -> list[str]:
        d = self.dir(name) / "versions"
        return sorted(p.name for p in d.iterdir() if p.is_dir() and p.name.startswith("v")) if d.exists() else []

    def current(self, name: str) -> str:
        f = self.dir(name) / "CURRENT"
        if not f.exists():
            known = ", ".join(self.models()) or "none"
            raise AivaInputError(f"registry {self.root}: no model {name!r} (registered: {known})")
        return f.read_text().strip()

    def version_dir(self, name: str, version: str | None = None) -> Path:
        v = version or self.current(name)
        d = self.dir(name) / "versions" / v
        if not d.is_dir():
            raise AivaInputError(f"registry {self.root}: {name} has no version {v!r}")
        return d

    def weights(self, name: str, version: str | None = None) -> Path:
        return self.version_dir(name, version) / "model.safetensors"

    def info(self, name: str, version: str | None = None) -> dict:
        return json.loads((self.version_dir(name, version) / "version.json").read_text())

    def log(self, name: str) -> list[dict]:
        f = self.dir(name) / "log.jsonl"
        return [json.loads(ln) for ln in f.read_text().splitlines() if ln.strip()] if f.exists() else []

    def holdouts(self, name: str) -> list[Path]:
        """Held-out sets of the updates that made the versions on the current lineage."""
        out, v = [], self.current(name)
        while v:
            for suffix in (".parquet", ".csv"):
                p = self.dir(name) / "holdouts" / f"{v}{suffix}"
                if p.exists():
                    out.append(p)
            v = self.info(name, v).get("parent")  # type: ignore[assignment]
        return out[::-1]

    # ------------------------------------------------------------------ changes (under the lock)
    @contextlib.contextmanager
    def lock(self, name: str):
        d = self.dir(name)
        d.mkdir(parents=True, exist_ok=True)
        with open(d / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _append_log(self, name: str, record: dict) -> None:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record}
        with open(self.dir(name) / "log.jsonl", "a") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _next_version(self, name: str) -> str:
        vs = self.versions(name)
        return f"v{(int(vs[-1][1:]) + 1 if vs else 1):04d}"

    def add_version(self, name: str, weights: Path, info: dict, holdout: Path | None = None,
                    make_current: bool = True) -> str:
        """Copy a model (weights + card) in as the next version; call under :meth:`lock`."""
        weights = Path(weights)
        v = self._next_version(name)
        vdir = self.dir(name) / "versions" / v
        tmp = vdir.with_name(f".{v}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copyfile(weights, tmp / "model.safetensors")
        shutil.copyfile(weights.with_suffix(".json"), tmp / "model.json")
        (tmp / "version.json").write_text(json.dumps({"version": v, **info}, indent=2, default=str) + "\n")
        os.replace(tmp, vdir)
        if holdout is not None:
            (self.dir(name) / "holdouts").mkdir(exist_ok=True)
            shutil.copyfile(holdout, self.dir(name) / "holdouts" / f"{v}{Path(holdout).suffix}")
        if make_current:
            atomic_write_text(self.dir(name) / "CURRENT", v + "\n")
        return v

    def register(self, name: str, model) -> str:
        """Start a registry entry from a model (shipped name or .safetensors path)."""
        from aiva.models.artefact import kind as artefact_kind
        from aiva.models.io import load_model, read_card, resolve, sha256_file

        try:
            w = resolve(model)
        except AivaInputError:  # an electron-scattering model
            from aiva.escat.io import resolve_xsec_model

            w = resolve_xsec_model(model)
        card0 = read_card(w)
        if artefact_kind(card0) == "escat":
            from aiva.escat.io import load_xsec_model

            load_xsec_model(w)  # validated before it is registered
        else:
            load_model(w)  # card schema, header, shapes, SHA-256 and finiteness checked before registering
        with self.lock(name):
            if (self.dir(name) / "CURRENT").exists():
                raise AivaInputError(f"registry {self.root}: {name!r} is already registered")
            card = read_card(w)
            extra = {}
            if artefact_kind(card) != "escat":
                from aiva.registry.lineage import reference_spec

                extra["lineage_reference"] = reference_spec(card, self._next_version(name))
            v = self.add_version(name, w, {"parent": None, "source": str(w), "weights_sha256": sha256_file(w),
                                           "model_name": card.get("name"), "family": card.get("family"), **extra})
            self._append_log(name, {"action": "register", "version": v, "source": str(w)})
        return v

    def rollback(self, name: str) -> str:
        """Make the current version's parent current again (the log keeps both)."""
        with self.lock(name):
            cur = self.current(name)
            parent = self.info(name, cur).get("parent")
            if not parent:
                raise AivaInputError(f"{name} {cur} has no parent version to roll back to")
            atomic_write_text(self.dir(name) / "CURRENT", parent + "\n")
            self._append_log(name, {"action": "rollback", "from": cur, "to": parent})
        return parent

    def export(self, name: str, out: str | os.PathLike, version: str | None = None) -> Path:
        d = self.version_dir(name, version)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for f in ("model.safetensors", "model.json", "version.json"):
            shutil.copyfile(d / f, out / f"{name}{'' if f.startswith('model') else '.version'}{Path(f).suffix}")
        return out / f"{name}.safetensors"
