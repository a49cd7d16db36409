import numpy as np
import pytest

from aiva.events import EventTable


def make_table(n=100, seed=0, enu=1.0):
    """A small physical table of νμ–C12 events (uniform-ish kinematics)."""
    rng = np.random.default_rng(seed)
    e = np.full(n, enu) if np.isscalar(enu) else enu
    elep = 0.1056583755 + rng.uniform(0.05, 0.9, n) * (e - 0.2)
    return EventTable({
        "Enu_true": e, "PDGnu": np.full(n, 14), "tgta": np.full(n, 12), "tgtz": np.full(n, 6),
        "PDGLep": np.full(n, 13), "ELep": elep, "CosLep": rng.uniform(-1, 1, n), "Mode": np.ones(n, int),
    }, {"producer": "test", "seed": seed})


@pytest.fixture
def table():
    return make_table()


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Monte Carlo tables are cached in a per-session folder, not in the user's home."""
    import os

    old = os.environ.get("AIVA_CACHE_DIR")
    os.environ["AIVA_CACHE_DIR"] = str(tmp_path_factory.mktemp("aiva_cache"))
    yield
    if old is None:
        os.environ.pop("AIVA_CACHE_DIR", None)
    else:
        os.environ["AIVA_CACHE_DIR"] = old
