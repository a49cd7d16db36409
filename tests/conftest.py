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
