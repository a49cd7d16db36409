"""Whole events of the reference Monte Carlo (issue #24): conservation at the primary vertex, the
cascade's switch, reproducibility, compound targets and the event records."""
from __future__ import annotations

import numpy as np
import pytest

from aiva.mc import simulate
from aiva.physics import constants as C
from aiva.physics.targets import get_target

CHARGE = {2212: 1, 2112: 0, 211: 1, -211: -1, 111: 0, 13: -1, -13: 1, 11: -1, -11: 1, 14: 0, -14: 0, 12: 0,
          -12: 0, 321: 1, -321: -1, 311: 0, -311: 0, 130: 0, 310: 0, 221: 0, 3122: 0, 3222: 1, 3212: 0, 3112: -1,
          22: 0}


@pytest.fixture(scope="module")
def whole_3gev():
    return simulate("C12", "numu", 6000, energy=3.0, seed=11, whole_events=True,
                    channels=("qe", "res", "dis", "mec", "coh"))


def _charge(pdg: np.ndarray) -> np.ndarray:
    return np.array([CHARGE[int(c)] for c in pdg])


def test_lepton_first_and_lepton_columns_unchanged(whole_3gev):
    t = whole_3gev
    lep = simulate("C12", "numu", 6000, energy=3.0, seed=11, channels=("qe", "res", "dis", "mec", "coh"))
    for name in lep.columns:
        assert np.array_equal(lep[name], t[name]), name
    for key in ("vert", "fsp"):
        p = t.particles[key]
        first = p.offsets[:-1]
        assert np.all(p.counts >= 1)
        assert np.array_equal(p.pdg[first], t["PDGLep"])
        assert np.allclose(p.E[first], t["ELep"], rtol=0, atol=1e-12)
        assert np.allclose(p.pz[first] / p.p[first], t["CosLep"], atol=1e-9)


def test_four_momentum_conserved_at_the_primary_vertex(whole_3gev):
    """Σ (lepton + primary hadrons) − k is the struck nucleon: on its removal-energy shell
    E = √(M² + p²) − ε_B inside the Fermi sphere, to < 1 MeV (one-nucleon channels)."""
    t = whole_3gev
    v = t.particles["vert"]
    mode = np.abs(t["Mode"])
    one_nucleon = (mode == 1) | ((mode >= 11) & (mode <= 13)) | (mode == 21) | (mode == 26)
    r = v.sum_p4()
    r[0] -= t["Enu_true"]
    r[3] -= t["Enu_true"]
    tgt = get_target("C12")
    p = np.sqrt(r[1] ** 2 + r[2] ** 2 + r[3] ** 2)
    shell = np.sqrt(C.M_NUCLEON ** 2 + p ** 2) - tgt.eps_b
    sel = one_nucleon
    assert sel.sum() > 3000
    # proton and neutron masses differ by 1.3 MeV: compare with the struck nucleon's own mass
    assert np.max(np.abs(r[0][sel] - shell[sel])) < 2e-3
    assert np.max(p[sel]) <= tgt.kF + 1e-6


def test_charge_conserved_at_the_vertex(whole_3gev):
    """ν n or ν p → μ⁻ X: the vertex's total charge is that of the struck nucleon (0 or 1);
    2p2h: that of the nucleon pair (0, 1, 2); coherent: 0."""
    t = whole_3gev
    v = t.particles["vert"]
    q = np.bincount(v.event_index(), weights=_charge(v.pdg), minlength=len(t))
    mode = np.abs(t["Mode"])
    assert set(np.unique(q[mode != 2]).astype(int)) <= {0, 1}
    assert set(np.unique(q[mode == 2]).astype(int)) <= {0, 1, 2}
    assert np.all(q[mode == 16] == 0)


def test_no_fsi_gives_the_vertex_and_fsi_changes_it(whole_3gev):
    t = simulate("C12", "numu", 3000, energy=1.0, seed=5, whole_events=True, fsi=False)
    for f in ("counts", "pdg", "E", "px", "py", "pz"):
        assert np.array_equal(getattr(t.particles["vert"], f), getattr(t.particles["fsp"], f))
    v, f = whole_3gev.particles["vert"], whole_3gev.particles["fsp"]
    assert not np.array_equal(v.counts, f.counts)  # the cascade knocks out nucleons, absorbs pions


def test_whole_events_same_bytes_whatever_the_workers(monkeypatch):
    from aiva.mc import generator

    monkeypatch.setattr(generator, "CHUNK", 1000)  # three chunks
    a = simulate("C12", "numu", 2500, energy_range=(0.5, 5.0), seed=3, whole_events=True)
    b = simulate("C12", "numu", 2500, energy_range=(0.5, 5.0), seed=3, whole_events=True, workers=2)
    from aiva.events.table import table_sha256

    assert table_sha256(a) == table_sha256(b)
    c = simulate("C12", "numu", 2500, energy_range=(0.5, 5.0), seed=4, whole_events=True)
    assert table_sha256(a) != table_sha256(c)


def test_compound_target_mixes_nuclei_by_cross_section():
    t = simulate("CH", "numu", 20000, energy=1.0, seed=8, channels=("qe", "res", "dis"))
    xs_c = simulate("C12", "numu", 10, energy=1.0, channels=("qe", "res", "dis")).metadata["xsec_1e-38cm2"]
    xs_h = simulate("H1", "numu", 10, energy=1.0, channels=("qe", "res", "dis")).metadata["xsec_1e-38cm2"]
    f_h = xs_h["total_per_nucleus"] / (xs_h["total_per_nucleus"] + xs_c["total_per_nucleus"])
    on_h = t["tgta"] == 1
    assert set(np.unique(t["tgta"])) == {1, 12}
    assert on_h.mean() == pytest.approx(f_h, abs=4 * np.sqrt(f_h * (1 - f_h) / len(t)))
    assert np.all(np.abs(t["Mode"][on_h]) != 1)  # no CCQE on a free proton for a neutrino
    xs = t.metadata["xsec_1e-38cm2"]
    assert xs["total_per_nucleon"] == pytest.approx((xs_c["total_per_nucleus"] + xs_h["total_per_nucleus"]) / 13)


def test_whole_event_file_round_trip_and_bad_options(tmp_path, capsys):
    from aiva.cli import main
    from aiva.events import read_events

    f = tmp_path / "w.parquet"
    assert main(["simulate", "--target", "O16", "--energy", "1.5", "--events", "800", "--seed", "3", "-q",
                 "-o", str(f)]) == 0
    t = read_events(f)
    ref = simulate("O16", "numu", 800, energy=1.5, seed=3, whole_events=True)
    for key in ("vert", "fsp"):
        for fld in ("counts", "pdg", "E", "px", "py", "pz"):
            assert np.array_equal(getattr(t.particles[key], fld), getattr(ref.particles[key], fld)), (key, fld)
    bad = [(["--workers", "0"], "--workers"), (["--target", "Pb208"], "unknown target"),
           (["--probe", "e"], "neutrino mode"), (["--channels", "qe,bogus"], "unknown channel")]
    for extra, msg in bad:
        assert main(["simulate", "--energy", "1", "--events", "10", "-q", "-o", str(tmp_path / "x.parquet"),
                     *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert msg in err and "\n" not in err and "Traceback" not in err, err
