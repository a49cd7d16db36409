"""Topology helpers: counts from particle lists (with thresholds), CC0π/CC1π/CCNπ and proton
multiplicity masks, weighted fractions — on hand-built events with known answers and on the real
NuWro count arrays."""
from pathlib import Path

import numpy as np
import pytest
from conftest import make_table

from aiva.errors import AivaInputError
from aiva.events.particles import ParticleList
from aiva.events.topology import TOPOLOGIES, counts, fractions, topology

MP, MPI = 0.93827208816, 0.13957039

#: (particles (pdg, |p| GeV) after the muon, expected topologies)
EVENTS = [
    ([(2212, 0.5)], {"CC0pi", "1p", "CC0pi1p"}),
    ([(211, 0.3), (2112, 0.4)], {"CC1pip", "0p"}),
    ([(-211, 0.2), (2212, 0.6), (2212, 0.2)], {"CC1pim", "2p+"}),
    ([(111, 0.4)], {"CC1pi0", "0p"}),
    ([(211, 0.3), (111, 0.2), (2212, 0.5)], {"CCNpi", "1p"}),
    ([(321, 0.3), (2212, 0.5)], {"1p"}),  # a kaon: a meson, so not CC0pi, and not a CC1pi either
    ([(22, 0.01), (2112, 0.2), (1000060110, 0.05)], {"CC0pi", "0p", "CC0pi0p"}),  # photon, neutron, 11C
    ([(211, 0.3), (211, 0.5), (2212, 0.4), (2212, 0.3), (2212, 0.7)], {"CCNpi", "2p+"}),
    ([], {"CC0pi", "0p", "CC0pi0p"}),
]
MASS = {2212: MP, 2112: 0.93956542052, 211: MPI, -211: MPI, 111: 0.1349768, 321: 0.493677, 22: 0.0,
        1000060110: 10.254, 13: 0.1056583755}


def _plist(events=EVENTS):
    ev, pdg, p = [], [], []
    for i, (parts, _) in enumerate(events):
        for code, mom in [(13, 0.6), *parts]:
            ev.append(i)
            pdg.append(code)
            p.append(mom)
    p = np.array(p)
    E = np.sqrt(p ** 2 + np.array([MASS[c] for c in pdg]) ** 2)
    z = np.zeros_like(p)
    return ParticleList.from_event_index(np.array(ev), len(events), pdg, E, z, z, p)


def test_counts_and_topologies_of_hand_built_events():
    pl = _plist()
    c = counts(pl)
    assert list(c["n_p"]) == [1, 0, 2, 0, 1, 1, 0, 3, 0]
    assert list(c["n_pip"]) == [0, 1, 0, 0, 1, 0, 0, 2, 0] and list(c["n_pim"]) == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert list(c["n_meson"]) == [0, 0, 0, 0, 0, 1, 0, 0, 0]  # the kaon
    assert list(c["n_gamma"]) == [0, 0, 0, 0, 0, 0, 1, 0, 0] and list(c["n_other"]) == [0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert np.all(c["n_lep"] == 1) and np.all(c["n_nu"] == 0)
    # every particle lands in exactly one key
    assert np.array_equal(sum(c.values()), pl.counts)
    masks = topology(c)
    assert set(masks) == set(TOPOLOGIES)
    for i, (_, want) in enumerate(EVENTS):
        got = {k for k, m in masks.items() if m[i]}
        assert got == want, (i, got, want)
    # agrees with ParticleList.count
    assert np.array_equal(c["n_pi0"], pl.count(111))


def test_topologies_partition_the_events():
    rng = np.random.default_rng(1)
    n = 5000
    c = {k: rng.poisson(lam, n) for k, lam in (("n_p", 1.2), ("n_pip", 0.4), ("n_pim", 0.1), ("n_pi0", 0.2),
                                               ("n_meson", 0.05))}
    cc = rng.uniform(size=n) < 0.8
    m = topology(c, cc=cc)
    pion = m["CC0pi"].astype(int) + m["CC1pip"] + m["CC1pim"] + m["CC1pi0"] + m["CCNpi"]
    one_other = cc & (c["n_pip"] + c["n_pim"] + c["n_pi0"] == 0) & (c["n_meson"] == 1)
    assert np.array_equal(pion + one_other, cc.astype(int))  # each CC event in exactly one class; NC in none
    assert np.array_equal(m["0p"].astype(int) + m["1p"] + m["2p+"], np.ones(n, int))
    assert np.array_equal(m["CC0pi0p"] | m["CC0pi1p"] | m["CC0pi2p+"], m["CC0pi"])


def test_momentum_thresholds():
    pl = _plist()
    # 250 MeV/c thresholds for protons and charged pions (the pi- inherits the pi+ threshold)
    c = counts(pl, p_min={2212: 0.25, 211: 0.25})
    assert list(c["n_p"]) == [1, 0, 1, 0, 1, 1, 0, 3, 0]  # the 0.2 GeV proton of event 2 is gone
    assert c["n_pim"][2] == 0 and c["n_pip"][1] == 1  # 0.2 GeV pi- below, 0.3 GeV pi+ above
    m = topology(c)
    assert m["CC0pi"][2] and m["1p"][2] and m["CC0pi1p"][2]
    # an antiparticle's own entry wins
    assert counts(pl, p_min={211: 0.25, -211: 0.0})["n_pim"][2] == 1
    with pytest.raises(AivaInputError, match="momentum threshold"):
        counts(pl, p_min={2212: -1.0})


def test_fractions_weighted_and_from_tables():
    pl = _plist()
    n = pl.n_events
    c = counts(pl)
    f = fractions(c)
    assert f["CC0pi"] == pytest.approx(3 / n) and f["2p+"] == pytest.approx(2 / n)
    w = np.arange(1, n + 1, dtype=float)
    fw = fractions(c, w)
    assert fw["CC0pi"] == pytest.approx((1 + 7 + 9) / w.sum())
    # a table: CC flags from the table (an NC event counts in no CC topology), weights from its column
    t = make_table(n)
    t.particles["fsp"] = pl
    t = t.with_columns(PDGLep=np.where(np.arange(n) == 0, 14, 13), Mode=np.where(np.arange(n) == 0, 51, 1), weight=w)
    ft = fractions(t)
    assert ft["CC0pi"] == pytest.approx((7 + 9) / w.sum()) and ft["1p"] == pytest.approx((1 + 5 + 6) / w.sum())
    with pytest.raises(AivaInputError, match="no particle list"):
        fractions(make_table(5))
    with pytest.raises(AivaInputError, match="missing n_pi0"):
        topology({"n_p": np.zeros(3), "n_pip": np.zeros(3), "n_pim": np.zeros(3)})
    with pytest.raises(AivaInputError, match="weights"):
        fractions(c, np.zeros(n))


NUWRO = Path("/work/shared/data/nuwro")


@pytest.mark.skipif(not NUWRO.exists(), reason="NuWro reference events not available")
def test_nuwro_count_arrays():
    """The real NuWro files (counts after FSI, pions only): fractions agree with direct counting,
    the pion classes add up to 1, and CC0π falls with energy as pion production opens."""
    cc0pi = {}
    for e in ("0.5", "1.0", "3.0"):
        d = np.load(NUWRO / f"nuwro_numu_C12_E{e}GeV_CC.npz")
        c = {k: d[k] for k in ("n_p", "n_n", "n_pip", "n_pim", "n_pi0")}
        f = fractions(c)
        npi = c["n_pip"] + c["n_pim"] + c["n_pi0"]
        assert f["CC0pi"] == pytest.approx(np.mean(npi == 0))
        assert f["CC1pip"] == pytest.approx(np.mean((npi == 1) & (c["n_pip"] == 1)))
        assert f["CC0pi"] + f["CC1pip"] + f["CC1pim"] + f["CC1pi0"] + f["CCNpi"] == pytest.approx(1.0)
        assert f["0p"] + f["1p"] + f["2p+"] == pytest.approx(1.0)
        # a CC0pi event from a pion-producing channel needs the pion absorbed in the nucleus (FSI)
        res = d["dyn"] == 2
        absorbed = np.mean(topology(c)["CC0pi"][res])
        assert 0.05 < absorbed < 0.5, absorbed
        cc0pi[e] = f["CC0pi"]
        if e == "0.5":  # QE + MEC are 89.6 % of NuWro's events here (README): nearly all CC0pi
            assert f["CC0pi"] > 0.896 - 0.01
    assert cc0pi["0.5"] > cc0pi["1.0"] > cc0pi["3.0"]
