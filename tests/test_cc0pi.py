"""CC0π measurements (T2K 2016 CH, T2K 2020 O/C, MINERvA CCQE-like p_T–p_∥): loading, signal
definitions on hand-built particle lists, χ², predictions and error paths."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from aiva.errors import AivaInputError
from aiva.events import EventTable
from aiva.events.particles import ParticleList
from aiva.measurements import chi2, load_measurement, predict_bins
from aiva.measurements.cc0pi import (COS_20_DEG, is_heavy_baryon, is_meson, minerva_qelike, signal_mask, t2k_cc0pi)
from aiva.measurements.run import events_ready

MMU = 0.1056583755
MP = 0.93827208816
NAMES = {"t2k-cc0pi-2016-CH": 67, "t2k-cc0pi-2020-O": 29, "t2k-cc0pi-2020-C": 29, "minerva-cc0pi-ptpz-2019-CH": 144}


# ---------------------------------------------------------------------------------- helpers
def _table(p, cos, w, *, A=12, Z=6, hadrons=None, particles=True):
    """Events with a μ⁻ of momentum p at cos θ (azimuth 0), weights w, and per event a list of
    (pdg, |p|) hadrons emitted along +z (lepton first in the final-state list)."""
    p, cos = np.asarray(p, float), np.asarray(cos, float)
    n = len(p)
    cols = {"Enu_true": np.full(n, 3.0), "PDGnu": np.full(n, 14, np.int32), "tgta": np.full(n, A, np.int32),
            "tgtz": np.full(n, Z, np.int32), "PDGLep": np.full(n, 13, np.int32), "ELep": np.sqrt(p ** 2 + MMU ** 2),
            "CosLep": cos, "Mode": np.ones(n, np.int32), "weight": np.asarray(w, float)}
    parts = {}
    if particles:
        sin = np.sqrt(1 - cos ** 2)
        ev, pdg, E, px, py, pz = list(range(n)), [13] * n, list(cols["ELep"]), list(p * sin), [0.0] * n, list(p * cos)
        for i, had in enumerate(hadrons or [[] for _ in range(n)]):
            for code, ph in had:
                m = {2212: MP, 2112: 0.9395654, 211: 0.13957, -211: 0.13957, 111: 0.13498, 321: 0.493677,
                     3122: 1.115683, 22: 0.0}[code]
                ev.append(i), pdg.append(code), E.append(np.hypot(ph, m)), px.append(0.0), py.append(0.0), pz.append(ph)
        parts["fsp"] = ParticleList.from_event_index(np.array(ev), n, pdg, E, px, py, pz)
    return EventTable(cols, {}, parts)


# ---------------------------------------------------------------------------------- loading
@pytest.mark.parametrize("name", sorted(NAMES))
def test_measurement_loads_with_positive_definite_covariance(name):
    m = load_measurement(name)
    n = NAMES[name]
    assert m.values.shape == (n,) and m.bins.shape == (n, 4) and m.covariance.shape == (n, n)
    assert np.allclose(m.covariance, m.covariance.T)
    np.linalg.cholesky(m.covariance)  # positive definite as shipped (MINERvA: after the documented bin removal)
    assert np.allclose(m.errors, np.sqrt(np.diag(m.covariance)), rtol=1e-5)
    assert np.all(m.values >= 0) and m.meta["signal"] in ("t2k-cc0pi", "minerva-qelike")
    # flux-integrated CC0π cross section per nucleon: a CC-inclusive-sized fraction, ~0.4–0.55e-38 cm²
    total = float(np.sum(m.values * m.widths))
    assert 0.35 < total < 0.6, total


def test_binnings_and_units():
    t16, o, c = (load_measurement(x) for x in ("t2k-cc0pi-2016-CH", "t2k-cc0pi-2020-O", "t2k-cc0pi-2020-C"))
    assert sorted({b for b in t16.bins[:, 0]}) == [-1, 0, 0.6, 0.7, 0.8, 0.85, 0.9, 0.94, 0.98]
    assert sorted({b for b in o.bins[:, 0]}) == [-1, 0, 0.6, 0.75, 0.86, 0.93] and np.array_equal(o.bins, c.bins)
    for m in (t16, o):  # full phase space: cos θ from −1, p up to 30 GeV/c in every slice
        assert m.bins[:, 0].min() == -1 and m.bins[:, 1].max() == 1 and m.bins[:, 3].max() == 30
    # oxygen and carbon per nucleon agree within 25 % (isoscalar nuclei of similar size; PRD 101, 112004)
    assert 0.9 < np.sum(o.values * o.widths) / np.sum(c.values * c.widths) < 1.25
    assert t16.meta["per_nucleon_of"] == "CH" and t16.meta["nucleons_per_molecule"] == 13
    assert o.meta["target"] == "O16" and c.meta["target"] == "C12" and c.meta["per_nucleon_of"] == "C12"


def test_minerva_bins_left_out_are_exactly_those_outside_20_degrees():
    m = load_measurement("minerva-cc0pi-ptpz-2019-CH")
    assert m.axes == "pt_pz"
    pt = np.array([0, 0.075, 0.15, 0.25, 0.325, 0.4, 0.475, 0.55, 0.7, 0.85, 1.0, 1.25, 1.5, 2.5])
    pz = np.array([1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 8, 10, 15, 20])
    tan20 = np.tan(np.deg2rad(20.0))
    # a (p_T, p_∥) cell is reachable with θ < 20° only if p_T,lo < tan 20° × p_∥,hi
    grid = [(a, b, c, d) for a, b in zip(pt[:-1], pt[1:]) for c, d in zip(pz[:-1], pz[1:])]
    kept = {tuple(b) for b in np.round(m.bins, 6)}
    dropped = [g for g in grid if tuple(np.round(g, 6)) not in kept]
    assert len(m.values) == 144 and len(dropped) == len(m.meta["bins_left_out"]) == 12
    assert np.all(m.bins[:, 0] < tan20 * m.bins[:, 3])  # every kept bin has phase space inside 20°
    # every bin wholly outside 20° is dropped; the one other dropped bin (p_T 1.25–1.5, p_∥ 3–3.5) is open
    # only in a sliver of p_T < 1.274 GeV/c, where MINERvA reports zero cross section
    outside = [g for g in grid if g[0] >= tan20 * g[3]]
    assert set(outside) <= set(dropped) and len(dropped) - len(outside) == 1
    (extra,) = set(dropped) - set(outside)
    assert 0 < tan20 * extra[3] - extra[0] < 0.03
    # the shipped order is the covariance's global order: p_T slowest, p_∥ fastest
    assert np.allclose(m.bins[:12, 0], 0) and np.allclose(m.bins[:12, 2], pz[:-1])


# ---------------------------------------------------------------------------------- signal definitions
def test_pdg_classes():
    assert is_meson(np.array([111, 211, -211, 130, 310, 321, -321, 221, 331, 421, 10311])).all()
    assert not is_meson(np.array([2212, 2112, 22, 13, -13, 11, 1000060120, 3122, 2224])).any()
    assert is_heavy_baryon(np.array([3122, 3222, -3112, 4122])).all()
    assert not is_heavy_baryon(np.array([2212, 2112, 2224, 321, 22, 1000080160])).any()


def test_signal_definitions_on_hand_built_events():
    hadrons = [
        [(2212, 0.5), (2212, 0.3)],  # 0: 2p 0π → both accept
        [(2212, 0.5), (211, 0.05)],  # 1: a 50 MeV/c π⁺ → both reject (no pions of any momentum)
        [(2112, 0.4), (111, 0.2)],  # 2: 1π⁰ → both reject
        [(2212, 0.6)],  # 3: muon at 30° → T2K accepts, MINERvA rejects
        [(2212, 0.4), (321, 0.3)],  # 4: K⁺ → T2K accepts (no pion), MINERvA rejects (a meson)
        [(3122, 0.4)],  # 5: Λ → T2K accepts, MINERvA rejects (heavy baryon)
        [(2212, 0.4), (22, 0.005)],  # 6: a 5 MeV de-excitation photon → both accept
        [(2212, 0.4), (22, 0.05)],  # 7: a 50 MeV photon → T2K accepts, MINERvA rejects
        [],  # 8: the muon alone → both accept
    ]
    cos = np.full(9, 0.99)
    cos[3] = np.cos(np.deg2rad(30.0))
    ev = _table(np.full(9, 3.0), cos, np.ones(9), hadrons=hadrons)
    fsp = ev.particles["fsp"]
    assert t2k_cc0pi(ev, fsp).tolist() == [1, 0, 0, 1, 1, 1, 1, 1, 1]
    assert minerva_qelike(ev, fsp).tolist() == [1, 0, 0, 0, 0, 0, 1, 0, 1]
    # the angular cut sits at 20°: just inside is kept, just outside is not
    edge = _table([3.0, 3.0], [np.cos(np.deg2rad(19.9)), np.cos(np.deg2rad(20.1))], [1, 1])
    assert minerva_qelike(edge, edge.particles["fsp"]).tolist() == [True, False] and COS_20_DEG == pytest.approx(0.9397,
                                                                                                             abs=1e-4)
    assert signal_mask(ev, "t2k-cc0pi").sum() == 7
    with pytest.raises(AivaInputError, match="unknown signal definition"):
        signal_mask(ev, "cc1pi")


# ---------------------------------------------------------------------------------- chi2
@pytest.mark.parametrize("name", sorted(NAMES))
def test_chi2_of_data_is_zero_and_one_sigma_shift_of_diagonal_is_ndf(name):
    m = load_measurement(name)
    assert chi2(m, m.values) == pytest.approx(0.0, abs=1e-12)
    sig = np.sqrt(np.diag(m.covariance))
    md = dataclasses.replace(m, covariance=np.diag(sig ** 2))
    signs = np.where(np.arange(len(sig)) % 2 == 0, 1.0, -1.0)
    assert chi2(md, m.values + signs * sig) == pytest.approx(len(sig), rel=1e-9)
    # with the full covariance a coherent 1σ shift of every bin is not ndf: the correlations count
    assert chi2(m, m.values + sig) != pytest.approx(len(sig), rel=0.05)


# ---------------------------------------------------------------------------------- predictions
def test_t2k_prediction_counts_cc0pi_events_per_nucleon_of_ch():
    m = load_measurement("t2k-cc0pi-2016-CH")
    # bin 4 is cos 0–0.6, p 0.3–0.4: two CC0π events (w 0.2, 0.3) and one with a π⁺ (w 0.5, rejected)
    ev = _table([0.35, 0.35, 0.35, 0.35], [0.3, 0.3, 0.3, -0.5], [0.2, 0.3, 0.5, 0.1],
                hadrons=[[(2212, 0.3)], [(2212, 0.3), (2112, 0.2)], [(211, 0.2)], []])
    ready = events_ready(ev, m)
    assert len(ready) == 3 and ready.metadata["signal"]["kept"] == 3
    pred = predict_bins(ready, m)
    k = np.flatnonzero((m.bins[:, 0] == 0) & (m.bins[:, 2] == 0.3))[0]
    assert pred[k] == pytest.approx((0.2 + 0.3) * 12 / 13 / (0.6 * 0.1))
    kb = np.flatnonzero((m.bins[:, 0] == -1) & (m.bins[:, 2] == 0.3))[0]
    assert pred[kb] == pytest.approx(0.1 * 12 / 13 / (1.0 * 0.1))
    assert np.count_nonzero(pred) == 2
    # the 2020 carbon result is per carbon nucleon: no 12/13
    mc = load_measurement("t2k-cc0pi-2020-C")
    pc = predict_bins(events_ready(ev, mc), mc)
    kc = np.flatnonzero((mc.bins[:, 0] == 0) & (mc.bins[:, 2] == 0.35))[0]
    assert pc[kc] == pytest.approx(0.5 / (0.6 * 0.1))


def test_whole_ch_file_is_taken_per_nucleon_of_ch():
    """A CH file of another generator (C and H events, weights per CH nucleon): no 12/13; its νμ-H
    event (with the π⁺ that charge conservation demands) fails the CC0π selection."""
    from aiva.events import EventTable as ET

    c = _table([0.35, 0.35], [0.3, 0.3], [0.2, 0.05], hadrons=[[(2212, 0.3)], [(2212, 0.3), (211, 0.2)]])
    h = _table([0.35], [0.3], [0.1], A=1, Z=1, hadrons=[[(2212, 0.3), (211, 0.2)]])
    ch = ET.concatenate([c, h])
    m = load_measurement("t2k-cc0pi-2016-CH")
    ready = events_ready(ch, m)
    assert ready.metadata["signal"]["kept"] == 1 and ready.metadata["signal"]["weight_scale"] == 1.0
    k = np.flatnonzero((m.bins[:, 0] == 0) & (m.bins[:, 2] == 0.3))[0]
    assert predict_bins(ready, m)[k] == pytest.approx(0.2 / (0.6 * 0.1))
    co = ET.concatenate([c, _table([0.35], [0.3], [0.1], A=16, Z=8, hadrons=[[]])])
    with pytest.raises(AivaInputError, match="mix 2 targets"):
        events_ready(co, m)
    with pytest.raises(AivaInputError, match="mix 2 targets"):  # the 2020 carbon result is not per CH nucleon
        events_ready(ch, load_measurement("t2k-cc0pi-2020-C"))


def test_minerva_prediction_in_pt_ppar_bins(tmp_path):
    from aiva.measurements.run import plot_prediction

    m = load_measurement("minerva-cc0pi-ptpz-2019-CH")
    # p = 3.0 GeV/c at θ = 2°: p_T = 0.1047, p_∥ = 2.998 → bin p_T 0.075–0.15, p_∥ 2.5–3
    th = np.deg2rad([2.0, 2.0, 25.0])
    ev = _table([3.0, 3.0, 3.0], np.cos(th), [0.4, 0.6, 0.5], hadrons=[[(2212, 0.5)], [(211, 0.3)], [(2212, 0.5)]])
    pred = predict_bins(events_ready(ev, m), m)
    k = np.flatnonzero((m.bins[:, 0] == 0.075) & (m.bins[:, 2] == 2.5))[0]
    assert pred[k] == pytest.approx(0.4 * 12 / 13 / (0.075 * 0.5)) and np.count_nonzero(pred) == 1
    plot_prediction(m, {"toy": pred}, tmp_path / "p.png", {"toy": chi2(m, pred)})  # p_T slices, p_∥ axis
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_end_to_end_with_reference_mc_and_synthetic_particles():
    """aiva.mc.simulate (lepton only today) + a synthetic hadron list by channel: QE → a proton,
    pion production and DIS → a π⁺; the CC0π prediction is then the QE part of the inclusive one."""
    from aiva.mc.generator import simulate

    ev = simulate("C12", "numu", 3000, flux="t2k-nd280-numu", seed=5)
    n = len(ev)
    qe = np.abs(ev["Mode"]) <= 2
    code = np.where(qe, 2212, 211)
    lep = ParticleList.from_fixed(13, np.vstack([ev["ELep"], np.zeros(n), np.zeros(n),
                                                 np.sqrt(ev["ELep"] ** 2 - MMU ** 2)]))
    had = ParticleList.from_fixed(code, np.vstack([np.full(n, 1.1), np.zeros(n), np.zeros(n), np.full(n, 0.3)]))
    ev.particles["fsp"] = ParticleList.merge([lep, had])
    m = load_measurement("t2k-cc0pi-2016-CH")
    ready = events_ready(ev, m)
    assert ready.metadata["signal"]["kept"] == int(qe.sum())
    pred = predict_bins(ready, m)
    p = np.sqrt(ev["ELep"] ** 2 - MMU ** 2)
    inside = qe & (p < 30)
    assert np.sum(pred * m.widths) == pytest.approx(12 / 13 * ev["weight"][inside].sum(), rel=1e-9)
    assert np.isfinite(chi2(m, pred))


# ---------------------------------------------------------------------------------- errors
def test_events_without_particles_or_lepton_first_are_refused():
    m = load_measurement("t2k-cc0pi-2020-O")
    with pytest.raises(AivaInputError, match="has no final-state particle lists: CC0π needs whole events"):
        events_ready(_table([0.5], [0.9], [1.0], A=16, Z=8, particles=False), m)
    ev = _table([0.5], [0.9], [1.0], A=16, Z=8, hadrons=[[(2212, 0.3)]])
    fsp = ev.particles["fsp"]
    ev.particles["fsp"] = ParticleList(fsp.counts, fsp.pdg[::-1], fsp.E[::-1], fsp.px[::-1], fsp.py[::-1], fsp.pz[::-1])
    with pytest.raises(AivaInputError, match="lepton .PDGLep. first"):
        events_ready(ev, m)


def test_wrong_target_and_compound_weights_are_refused():
    with pytest.raises(AivaInputError, match="is on O16"):
        events_ready(_table([0.5], [0.9], [1.0], hadrons=[[]]), load_measurement("t2k-cc0pi-2020-O"))
    ev = _table([0.5], [0.9], [1.0], hadrons=[[]])
    ev.metadata["selection"] = [{"filter": "--target C12", "removed": 5, "kept": 1}]
    with pytest.raises(AivaInputError, match="give --nucleons 13"):
        events_ready(ev, load_measurement("t2k-cc0pi-2016-CH"))
    ev.metadata["normalisation"] = {"per_nucleon_of": "C12"}  # --nucleons 13 given: weights per C nucleon
    assert events_ready(ev, load_measurement("t2k-cc0pi-2016-CH"))["weight"][0] == pytest.approx(12 / 13)


def test_cli_refuses_lepton_only_files_and_models_with_one_line(tmp_path, capsys):
    from aiva.cli import main

    f = tmp_path / "mc.parquet"
    assert main(["simulate", "--flux", "t2k-nd280-numu", "--events", "500", "-q", "--seed", "2", "--lepton-only",
                 "-o", str(f)]) == 0
    for name in ("t2k-cc0pi-2016-CH", "minerva-cc0pi-ptpz-2019-CH"):
        assert main(["predict", "--measurement", name, "--events", str(f), "--out", str(tmp_path / "p")]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err, err
        assert "has no final-state particle lists: CC0π needs whole events (aiva simulate makes them" in err
    assert main(["predict", "--measurement", "t2k-cc0pi-2020-C", "--model", "numu-C12-inclusive", "--out",
                 str(tmp_path / "q")]) == 2
    assert "model 'numu-C12-inclusive': has no final-state particle lists" in capsys.readouterr().err
    assert main(["predict", "--measurement", "t2k-cc0pi-2020-O", "--events", str(f), "--out", str(tmp_path / "r")]) == 2
    assert "is on O16" in capsys.readouterr().err
    assert main(["predict", "--list"]) == 0
    out = capsys.readouterr().out
    assert "minerva-cc0pi-ptpz-2019-CH   numu minerva-qelike on CH, 144 bins" in out
