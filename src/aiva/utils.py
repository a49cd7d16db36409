"""Small shared helpers: atomic writes."""
from __future__ import annotations

import os
import tempfile
import typing
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from collections.abc import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    If the body raises, the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; use the usual mode
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


class ConfigMixin:
    """``to_dict``/``from_dict`` for configuration dataclasses. ``from_dict`` is the boundary where
    configs from TOML files and model cards come in: unknown keys, values of the wrong type
    (by the field's annotation: int, float, bool, str, tuple/list, dict, ``X | None``), values
    outside ``_limits`` and strings outside ``_choices`` are refused naming the key."""

    #: field -> (low, high): inclusive bounds (None: open-ended); a low given as ("gt", x) is exclusive
    _limits: ClassVar[dict[str, tuple]] = {}
    #: field -> allowed strings
    _choices: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: every int field must be >= 1 unless it has its own limits (architectures, counts)
    _positive_ints: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        from dataclasses import fields

        from aiva.errors import AivaInputError

        if not isinstance(d, dict):
            raise AivaInputError(f"{cls.__name__}: expected a table of keys, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(d) - names
        if unknown:
            raise AivaInputError(f"unknown {cls.__name__} key(s) {', '.join(sorted(unknown))} "
                                 f"(known: {', '.join(sorted(names))})")
        hints = typing.get_type_hints(cls)
        for key, value in d.items():
            problem = _type_problem(hints.get(key), value)
            if problem is None and isinstance(value, (int, float)) and not isinstance(value, bool):
                problem = cls._range_problem(key, value, hints.get(key))
            if problem is None and key in cls._choices and value not in cls._choices[key]:
                problem = f"must be one of {', '.join(map(repr, cls._choices[key]))}"
            if problem:
                raise AivaInputError(f"key '{key}' = {value!r}: {problem}")
        return cls(**d)

    @classmethod
    def _range_problem(cls, key: str, value: float, hint) -> str | None:
        lo, hi = cls._limits.get(key, (None, None))
        if key not in cls._limits and cls._positive_ints and hint is int:
            lo = 1
        if isinstance(lo, tuple):
            if not value > lo[1]:
                return f"must be > {lo[1]:g}"
        elif lo is not None and value < lo:
            return f"must be >= {lo:g}"
        if hi is not None and value > hi:
            return f"must be <= {hi:g}"
        return None


def _type_problem(hint, value) -> str | None:
    """Why ``value`` does not fit the annotation ``hint`` (None if it does or the hint is not checked)."""
    import math
    import types

    if hint is None or hint is Any:
        return None
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        probs = [_type_problem(a, value) for a in args if a is not type(None)]
        return None if any(p is None for p in probs) else probs[0]
    base = typing.get_origin(hint) or hint
    if base is bool:
        return None if isinstance(value, bool) else f"expected true or false, got {type(value).__name__}"
    if base is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else \
            f"expected an integer, got {type(value).__name__}"
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {type(value).__name__}"
        return None if math.isfinite(value) else "expected a finite number"
    if base is str:
        return None if isinstance(value, str) else f"expected a string, got {type(value).__name__}"
    if base in (tuple, list):
        return None if isinstance(value, (list, tuple)) else f"expected a list, got {type(value).__name__}"
    if base is dict:
        return None if isinstance(value, dict) else f"expected a table, got {type(value).__name__}"
    return None


def available_memory_bytes() -> int | None:
    """Memory the OS can give this process now (``MemAvailable`` of /proc/meminfo), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(n_events: int, bytes_per_event: int, option: str = "--events") -> None:
    """Refuse, before any work, a request whose events cannot fit in the available memory."""
    from aiva.errors import AivaInputError

    avail = available_memory_bytes()
    need = int(n_events) * int(bytes_per_event)
    if avail is not None and need > avail:
        raise AivaInputError(f"{option} {n_events}: about {need / 2**30:.3g} GiB needed ({bytes_per_event} bytes per "
                             f"event) but {avail / 2**30:.3g} GiB are available; at most about "
                             f"{avail // bytes_per_event:,} events fit (split the request, e.g. by seed)")


def check_fits_on_disk(n_events: int, bytes_per_event: int, path, option: str = "--events") -> None:
    """Refuse, before any work, an output that cannot fit on the disk of its folder."""
    import shutil

    from aiva.errors import AivaInputError

    folder = Path(path).resolve().parent
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    need = int(n_events) * int(bytes_per_event)
    if need > free:
        raise AivaInputError(f"{option} {n_events}: the output needs about {need / 2**30:.3g} GiB ({bytes_per_event} "
                             f"bytes per event) but {folder} has {free / 2**30:.3g} GiB free")


def read_toml(path, what: str = "TOML config") -> dict:
    """A TOML file as a dict; unreadable, non-UTF-8 or malformed files are one-line input errors."""
    import tomllib

    from aiva.errors import AivaInputError

    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise AivaInputError(f"{path}: not a TOML text file (not UTF-8)") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AivaInputError(f"{path}: cannot read {what} ({' '.join(str(exc).split())})") from None


def json_default(obj: Any):
    """``json.dumps(default=...)`` for NumPy scalars and arrays and paths (metadata of event files)."""
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")
