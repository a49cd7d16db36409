"""Other generators' files in and out: NUISANCE flat trees and GENIE gst with their
normalisation, selections that count what they remove, weights in every histogram, and one-line
errors for malformed files."""
import numpy as np
import pytest
import uproot

from aiva.cli import main
from aiva.errors import EventFileError
from aiva.events import EventTable, read_events, write_events
from aiva.events.select import Selection

N_EVENTS = 60_000
FLUX = "t2k-nd280-numu"
MEAS = "t2k-ccinc-2018-C"


@pytest.fixture(scope="module")
def t2k_events():
    """Flux-folded reference-MC events (T2K ND280 νμ flux on ¹²C) with their known ⟨σ⟩."""
    from aiva.mc import simulate

    return simulate("C12", "numu", N_EVENTS, flux=FLUX, seed=11)


def _nuisance_xsec_scale(table: EventTable, n_total: int, extra_sigma: float = 0.0) -> float:
    """fScaleFactor as NUISANCE's GenericFlux_Vectors computes it, (∫Φσ / N) / ∫Φ in cm² per
    nucleon, with σ(E) from the reference MC's own tables (not from the sample's metadata)."""
    from aiva.mc.config import get_config
    from aiva.mc.flux import load_flux
    from aiva.mc.generator import get_table
    from aiva.physics import get_probe, get_target

    flux = load_flux(FLUX)
    tgt = get_target("C12")
    tab = get_table(tgt, get_probe("numu"), get_config("default"), tuple(table.metadata["channels"]))
    e, phi = flux.quadrature(20001)
    sig = sum(tab.sigma(c, e) for c in table.metadata["channels"]) / tgt.A
    avg = np.trapezoid(sig * phi, e) / np.trapezoid(phi, e)
    return (avg * (1 + extra_sigma)) * 1e-38 / n_total


def _write_nuisance_tree(path, t: EventTable, *, scale: float, weight=None, cc=None, n_fsp: int = 3,
                         drop: tuple = (), tree: str = "FlatTree_VARS", overrides: dict | None = None):
    """A flat tree with NUISANCE's branch names and leaf types and jagged final-state arrays."""
    import awkward as ak

    n = len(t)
    rng = np.random.default_rng(5)
    counts = rng.integers(1, n_fsp + 1, n)
    jag = {k: ak.unflatten(rng.normal(0, 0.3, counts.sum()).astype(np.float32), counts) for k in ("px", "py", "pz")}
    rng.uniform(0.1, 1, counts.sum())  # (the former random energies: keeps the stream of later draws)
    p2 = sum(np.asarray(ak.flatten(jag[k]), np.float64) ** 2 for k in ("px", "py", "pz"))
    jag["E"] = ak.unflatten(np.sqrt(p2 + 0.93827208816 ** 2).astype(np.float32), counts)  # protons: E >= |p|
    jag["pdg"] = ak.unflatten(np.full(counts.sum(), 2212, np.int32), counts)
    cc = np.ones(n, np.int8) if cc is None else np.asarray(cc, np.int8)
    data = {
        "Mode": t["Mode"].astype(np.int32), "cc": cc, "PDGnu": t["PDGnu"].astype(np.int32),
        "Enu_true": t["Enu_true"].astype(np.float32), "tgt": np.full(n, 1000060120, np.int32),
        "tgta": t["tgta"].astype(np.int32), "tgtz": t["tgtz"].astype(np.int32), "PDGLep": t["PDGLep"].astype(np.int32),
        "ELep": t["ELep"].astype(np.float32), "CosLep": t["CosLep"].astype(np.float32),
        "Q2": t["Q2"].astype(np.float32), "q0": t["q0"].astype(np.float32), "W": t["W"].astype(np.float32),
        "Weight": (np.ones(n) if weight is None else np.asarray(weight)).astype(np.float32),
        "fScaleFactor": np.broadcast_to(np.asarray(scale, np.float64), (n,)).copy(),
        "flagCCINC": cc.astype(bool),
    }
    data.update(overrides or {})
    for k in drop:
        data.pop(k)
    fsp = ak.zip(jag)
    with uproot.recreate(path) as f:
        f.mktree(tree, {**{k: v.dtype for k, v in data.items()}, "fsp": fsp.type},
                 counter_name=lambda _: "nfsp", field_name=lambda _o, i: i)
        f[tree].extend({**data, "fsp": fsp})
    return path


def _with_nc(t: EventTable, frac: float, seed: int = 3) -> tuple[EventTable, np.ndarray]:
    """``t`` plus a fraction ``frac`` of NC events stored the NUISANCE way (the outgoing νμ as the lepton)."""
    rng = np.random.default_rng(seed)
    k = int(frac * len(t))
    idx = rng.choice(len(t), k, replace=False)
    nc = {c: v[idx].copy() for c, v in t.columns.items()}
    nc["PDGLep"][:] = 14
    nc["Mode"][:] = 51
    cols = {c: np.concatenate([t[c], nc[c]]) for c in t.names}
    cc = np.concatenate([np.ones(len(t), np.int8), np.zeros(k, np.int8)])
    return EventTable(cols, dict(t.metadata)), cc


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for s in needles:
        assert s in err, err
    return err


# ------------------------------------------------------------------------------- normalisation
def test_nuisance_tree_normalisation_and_predict_match_parquet(tmp_path, t2k_events, capsys):
    """A NUISANCE tree (real branch names/types, jagged arrays, 5 % NC events) of the same events:
    Σ Weight × fScaleFactor over CC events = the known ⟨σ⟩_Φ (1 %), and `aiva predict` gives the
    Parquet route's χ² after --cc-only."""
    t = t2k_events
    known = t.metadata["xsec_1e-38cm2"]["total_per_nucleon"]
    mixed, cc = _with_nc(t, 0.05)
    scale = _nuisance_xsec_scale(t, len(mixed), extra_sigma=(len(mixed) - len(t)) / len(t))
    root = _write_nuisance_tree(tmp_path / "nuisflat.root", mixed, scale=scale, cc=cc)
    back = read_events(root, select=Selection(cc_only=True))
    assert back.metadata["selection"][0] == {"filter": "--cc-only", "removed": len(mixed) - len(t), "kept": len(t)}
    assert back["weight"].sum() == pytest.approx(known, rel=0.01)

    pq = write_events(t, tmp_path / "events.parquet")
    assert main(["predict", "--measurement", MEAS, "--events", str(pq), "--out", str(tmp_path / "p1")]) == 0
    # without --cc-only the NC events are refused, with a hint
    _one_line_error(capsys, ["predict", "--measurement", MEAS, "--events", str(root), "--out", str(tmp_path / "p0")],
                    "nuisflat.root", "PDGLep", "--cc-only")
    assert main(["predict", "--measurement", MEAS, "--events", str(root), "--cc-only", "--out",
                 str(tmp_path / "p2")]) == 0
    import json

    c1 = json.loads((tmp_path / "p1" / "result.json").read_text())["predictions"][0]["chi2"]
    c2 = json.loads((tmp_path / "p2" / "result.json").read_text())["predictions"][0]["chi2"]
    assert c2 == pytest.approx(c1, rel=0.01)
    assert 50 < c1 < 1e4  # a real χ², not the 10⁹ of weights taken as cross sections


def test_gst_relative_weights_need_xsec_and_rare_processes_are_counted(tmp_path, t2k_events, capsys):
    t = t2k_events
    n = len(t)
    rare = np.zeros(n, bool)
    rare[:: 200] = True  # 0.5 % ν-e elastic / IMD / diffractive / single-kaon events
    kinds = np.array(["nuel", "imd", "dfr", "singlek"])[np.cumsum(rare) % 4]
    mode = np.abs(t["Mode"])
    flags = {k: (mode == m) & ~rare for k, m in (("qel", 1), ("res", 11), ("dis", 26))}
    flags["res"] |= np.isin(mode, (12, 13)) & ~rare
    flags["dis"] |= (mode == 21) & ~rare
    flags["mec"] = np.zeros(n, bool)
    flags["coh"] = np.zeros(n, bool)
    for k in ("nuel", "imd", "dfr", "singlek"):
        flags[k] = rare & (kinds == k)
    p = tmp_path / "genie.gst.root"
    data = {"iev": np.arange(n, dtype=np.int32), "neu": t["PDGnu"].astype(np.int32),
            "fspl": t["PDGLep"].astype(np.int32),
            "tgt": np.full(n, 1000060120, np.int32), "Z": t["tgtz"].astype(np.int32), "A": t["tgta"].astype(np.int32),
            **{k: v.astype(bool) for k, v in flags.items()}, "cc": np.ones(n, bool), "nc": np.zeros(n, bool),
            "neut_code": np.where(rare, 0, t["Mode"]).astype(np.int32), "wght": np.ones(n),
            "Q2": t["Q2"], "W": t["W"], "Ev": t["Enu_true"], "El": t["ELep"], "cthl": t["CosLep"]}
    with uproot.recreate(p) as f:
        f.mktree("gst", {k: v.dtype for k, v in data.items()})
        f["gst"].extend(data)
    g = read_events(p)
    assert len(g) == n - rare.sum()
    assert sum(g.metadata["dropped"].values()) == rare.sum()
    assert set(g.metadata["dropped"]) == {f"process '{k}' (no aiva model)" for k in ("nuel", "imd", "dfr", "singlek")}
    assert np.array_equal(g["Mode"], t["Mode"][~rare])  # neut_code wins over the flags
    _one_line_error(capsys, ["predict", "--measurement", MEAS, "--events", str(p), "--out", str(tmp_path / "g0")],
                    "genie.gst.root", "'weight'", "--xsec")
    known = t.metadata["xsec_1e-38cm2"]["total_per_nucleon"]
    assert main(["predict", "--measurement", MEAS, "--events", str(p), "--xsec", str(known), "--out",
                 str(tmp_path / "g1")]) == 0
    import json

    res = json.loads((tmp_path / "g1" / "result.json").read_text())["predictions"][0]
    assert res["sum_of_weights_per_nucleon"] == pytest.approx(known * (1 - rare.mean()), rel=1e-9)


def test_nuisance_round_trip_fixed_energy_and_flux(tmp_path, t2k_events):
    from aiva.mc import simulate

    fixed = simulate("C12", "numu", 5000, energy=1.0, seed=4)
    for t, name in ((fixed, "fixed.root"), (t2k_events, "flux.root")):
        back = read_events(write_events(t, tmp_path / name))
        for c in t.names:
            assert np.allclose(back[c], t[c], rtol=2e-7, atol=1e-7), c
        assert back.metadata["seed"] == t.metadata["seed"]
        known = t.metadata["xsec_1e-38cm2"]["total_per_nucleon"]
        assert back["weight"].sum() == pytest.approx(known, rel=1e-6)  # fixed energy: σ(E), flux: ⟨σ⟩_Φ


def test_flat_tree_output_is_readable_as_nuisance_and_azimuth_uniform(tmp_path, t2k_events):
    from scipy.stats import kstest

    p = write_events(t2k_events, tmp_path / "out.root")
    tree = uproot.open(p)["FlatTree_VARS"]
    types = {k: tree[k].typename for k in ("Mode", "cc", "Enu_true", "ELep", "CosLep", "fScaleFactor", "Weight",
                                           "nfsp", "px", "pdg")}
    assert types == {"Mode": "int32_t", "cc": "int8_t", "Enu_true": "float", "ELep": "float", "CosLep": "float",
                     "fScaleFactor": "double", "Weight": "float", "nfsp": "int32_t", "px": "float[]",
                     "pdg": "int32_t[]"}
    a = tree.arrays(["nfsp", "px", "py", "pz", "E", "pdg", "fScaleFactor", "Weight"], library="ak")
    assert np.all(a["nfsp"] == 1) and np.all(a["pdg"][:, 0] == 13)
    px, py, pz = (np.asarray(a[k][:, 0], dtype=np.float64) for k in ("px", "py", "pz"))
    phi = np.arctan2(py, px)
    assert kstest(phi, "uniform", args=(-np.pi, 2 * np.pi)).pvalue > 1e-3
    assert np.mean(np.abs(py)) > 0.05  # the azimuth is sampled, not p_y = 0
    cos = pz / np.sqrt(px ** 2 + py ** 2 + pz ** 2)
    assert np.allclose(cos, t2k_events["CosLep"], atol=1e-5)
    sigma = float(np.sum(np.asarray(a["Weight"]) * np.asarray(a["fScaleFactor"]))) / 1e-38
    assert sigma == pytest.approx(t2k_events.metadata["xsec_1e-38cm2"]["total_per_nucleon"], rel=1e-6)


def test_nuisance_tree_without_tgta_uses_tgt(tmp_path, t2k_events):
    t = t2k_events.select(np.arange(len(t2k_events)) < 2000)
    p = _write_nuisance_tree(tmp_path / "old.root", t, scale=1e-42, drop=("tgta", "tgtz"))
    back = read_events(p)
    assert np.all(back["tgta"] == 12) and np.all(back["tgtz"] == 6)


# ---------------------------------------------------------------------------------- selections
def test_compound_target_selection(tmp_path, t2k_events, capsys):
    t = t2k_events.select(np.arange(len(t2k_events)) < 4000)
    cols = dict(t.columns)
    h = np.arange(len(t)) % 4 == 0  # a CH-like file: a quarter of the events on hydrogen
    cols["tgta"] = np.where(h, 1, 12)
    cols["tgtz"] = np.where(h, 1, 6)
    ch = EventTable(cols, {"producer": "test"})
    p = _write_nuisance_tree(tmp_path / "ch.root", ch, scale=1e-42)
    _one_line_error(capsys, ["compare", str(p), str(p), "--no-c2st"], "ch.root", "tgta", "--target")
    assert main(["compare", str(p), str(p), "--no-c2st", "--target", "C12"]) == 0
    out = capsys.readouterr().out
    assert f"--target C12 removed {int(h.sum())} events, kept {int((~h).sum())}" in out
    sel = read_events(p, select=Selection(target="C12", nucleons=13))
    assert sel["weight"].sum() == pytest.approx(1e-42 / 1e-38 * (~h).sum() * 13 / 12)


def test_weighted_map_of_reweighted_sample_is_at_the_floor():
    """A sample drawn from q and weighted by p/q has the statistics of p: the weighted MAP against
    a sample of p sits at the floor ≈ 0.80 (the unweighted one does not)."""
    from scipy.stats import norm

    from aiva.metrics.core import map_2d

    rng = np.random.default_rng(0)
    n = 400_000
    p = rng.normal(0, 0.3, (n, 2))
    q = rng.normal(0.05, 0.33, (n, 2))
    w = np.prod(norm.pdf(q, 0, 0.3) / norm.pdf(q, 0.05, 0.33), axis=1)
    assert map_2d(p, q) > 1.5
    assert map_2d(p, q, w2=w) == pytest.approx(0.80, abs=0.06)


# ---------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("case, needles", [
    ("wrong_tree", ("no NUISANCE 'FlatTree_VARS' or GENIE 'gst' tree",)),
    ("missing_branch", ("lacks branch", "ELep")),
    ("nc_only", ("--cc-only removes every event", "PDGLep")),
    ("zero_weight", ("zero-weight", "Weight")),
    ("inconsistent_scale", ("fScaleFactor", "hadd")),
    ("truncated", ("truncated",)),
    ("not_a_tree", ("not a TTree",)),
])
def test_malformed_generator_files_exit_2_with_one_line(tmp_path, t2k_events, capsys, case, needles):
    t = t2k_events.select(np.arange(len(t2k_events)) < 500)
    p = tmp_path / f"{case}.root"
    argv = ["compare", str(p), str(p), "--no-c2st"]
    if case == "wrong_tree":
        _write_nuisance_tree(p, t, scale=1e-42, tree="FlatTree")
    elif case == "missing_branch":
        _write_nuisance_tree(p, t, scale=1e-42, drop=("ELep",))
    elif case == "nc_only":
        ov = {"PDGLep": np.full(len(t), 14, np.int32), "Mode": np.full(len(t), 51, np.int32)}
        _write_nuisance_tree(p, t, scale=1e-42, cc=np.zeros(len(t)), overrides=ov)
        argv.append("--cc-only")
    elif case == "zero_weight":
        _write_nuisance_tree(p, t, scale=1e-42, weight=np.zeros(len(t)))
    elif case == "inconsistent_scale":
        _write_nuisance_tree(p, t, scale=np.where(np.arange(len(t)) < 250, 1e-42, 2e-42))
    elif case == "truncated":
        good = _write_nuisance_tree(tmp_path / "good.root", t, scale=1e-42)
        p.write_bytes(good.read_bytes()[:3000])
    elif case == "not_a_tree":
        with uproot.recreate(p) as f:
            f["FlatTree_VARS"] = np.histogram(np.arange(10.0), bins=5)
    _one_line_error(capsys, argv, p.name, *needles)


def test_read_errors_name_the_branch(tmp_path, t2k_events):
    t = t2k_events.select(np.arange(len(t2k_events)) < 300)
    p = _write_nuisance_tree(tmp_path / "neg.root", t, scale=-1e-42)
    with pytest.raises(EventFileError, match=r"neg.root: column 'fScaleFactor'"):
        read_events(p)
    p = _write_nuisance_tree(tmp_path / "bad_cc.root", t, scale=1e-42,
                             overrides={"PDGLep": np.full(len(t), 14, np.int32)})
    with pytest.raises(EventFileError, match=r"bad_cc.root: column 'cc': cc = 1 but the lepton is a neutrino"):
        read_events(p)
