"""Whole-event records: the particle lists ("fsp" after FSI, "vert" before) through every event
file format — Parquet (plain and streamed), NUISANCE flat tree, NuHepMC 1.0, GENIE gst — and the
error paths of broken list columns."""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_table

from aiva.errors import EventFileError
from aiva.events import read_events, write_events
from aiva.events.io import write_parquet_stream
from aiva.events.particles import FIELDS, ParticleList, lepton_first, same_events
from aiva.events.select import Selection

M = {2212: 0.93827208816, 2112: 0.93956542052, 211: 0.13957039, -211: 0.13957039, 111: 0.1349768, 22: 0.0,
     321: 0.493677, 13: 0.1056583755}


def _hadrons(rng, n, mean):
    """Random physical hadrons: Poisson(mean) per event, |p| up to 1 GeV, on-shell energies."""
    counts = rng.poisson(mean, n).astype(np.int32)
    m = int(counts.sum())
    pdg = rng.choice([2212, 2112, 211, -211, 111, 22, 321], m)
    p = rng.uniform(0.0, 1.0, m)
    cos, phi = rng.uniform(-1, 1, m), rng.uniform(0, 2 * np.pi, m)
    sin = np.sqrt(1 - cos ** 2)
    E = np.sqrt(p ** 2 + np.array([M[int(c)] for c in pdg]) ** 2)
    return ParticleList(counts, pdg, E, p * sin * np.cos(phi), p * sin * np.sin(phi), p * cos)


def whole_events(n=40, seed=3, fsi=True):
    """A table with physical lepton + hadron lists; with ``fsi`` the final state differs from the
    primary vertex in most events (and equals it in some), else only "fsp"."""
    rng = np.random.default_rng(seed)
    t = make_table(n, seed=seed)
    t.metadata["xsec_1e-38cm2"] = {"total_per_nucleon": 0.9, "how": "at E = 1 GeV"}
    E, c = t["ELep"], t["CosLep"]
    p = np.sqrt(E ** 2 - M[13] ** 2)
    phi = rng.uniform(0, 2 * np.pi, n)
    s = np.sqrt(1 - c ** 2)
    lep = ParticleList(np.ones(n, np.int32), np.full(n, 13), E, p * s * np.cos(phi), p * s * np.sin(phi), p * c)
    vert = ParticleList.merge([lep, _hadrons(rng, n, 1.5)])
    if not fsi:
        t.particles = {"fsp": vert}
        return t
    changed = rng.uniform(size=n) < 0.7
    fsp = ParticleList.merge([lep, _hadrons(rng, n, 2.5)])
    keep_same = np.flatnonzero(~changed)
    # events without FSI: the final state is the primary vertex's
    ev = np.concatenate([np.flatnonzero(changed), keep_same])
    parts = ParticleList.concatenate([fsp.take(np.flatnonzero(changed)), vert.take(keep_same)])
    fsp = parts.take(np.argsort(ev, kind="stable"))
    t.particles = {"fsp": fsp, "vert": vert}
    return t


def _equal_bytes(a: ParticleList, b: ParticleList) -> bool:
    return all(getattr(a, f).tobytes() == getattr(b, f).tobytes() and getattr(a, f).dtype == getattr(b, f).dtype
               for f in ("counts", *FIELDS))


# ----------------------------------------------------------------------------------- Parquet
def test_parquet_round_trip_is_exact(tmp_path):
    t = whole_events()
    # events without hadrons and with several
    assert (t.particles["vert"].counts == 1).any() and (t.particles["vert"].counts >= 3).any()
    path = write_events(t, tmp_path / "w.parquet")
    schema = pq.read_schema(path)
    assert str(schema.field("pdg").type) == "list<element: int32>"
    assert str(schema.field("E_vert").type) == "list<element: double>"
    assert schema.field("nfsp").type == pa.int32() and schema.field("nvertp").type == pa.int32()
    back = read_events(path)
    assert set(back.particles) == {"fsp", "vert"}
    for k in ("fsp", "vert"):
        assert _equal_bytes(back.particles[k], t.particles[k])
    assert back.names == t.names  # the list columns are not scalar columns
    for k in t.names:
        assert back[k].tobytes() == t[k].tobytes()
    # a selection keeps every list in step with the columns
    sel = back.select(back["CosLep"] > 0)
    assert len(sel.particles["fsp"]) == len(sel) and np.array_equal(sel.particles["vert"].counts,
                                                                    t.particles["vert"].counts[t["CosLep"] > 0])


def test_parquet_stream_keeps_the_lists(tmp_path):
    t = whole_events(n=60)
    chunks = [t.select(np.arange(a, b)) for a, b in ((0, 25), (25, 26), (26, 60))]
    path = write_parquet_stream(tmp_path / "s.parquet", iter(chunks), {"note": "streamed"})
    assert pq.ParquetFile(path).num_row_groups == 3
    back = read_events(path)
    assert back.metadata["note"] == "streamed"
    for k in ("fsp", "vert"):
        assert _equal_bytes(back.particles[k], t.particles[k])
    # chunks with different lists cannot share one file
    bad = [chunks[0], chunks[1].with_columns()]
    bad[1].particles.pop("vert")
    with pytest.raises(EventFileError, match="particle lists"):
        write_parquet_stream(tmp_path / "bad.parquet", iter(bad))


def _broken(tmp_path, t, name, column, values):
    path = write_events(t, tmp_path / "ok.parquet")
    arrow = pq.read_table(path)
    arrow = arrow.set_column(arrow.schema.get_field_index(column), column, values)
    pq.write_table(arrow, tmp_path / name)
    return tmp_path / name


def test_broken_list_columns_name_file_and_column(tmp_path, capsys):
    from aiva.cli import main

    t = whole_events(n=10)
    fsp = t.particles["fsp"]
    off = fsp.offsets.astype(np.int32)
    # the last event's list one particle short of its nfsp
    short = off.copy()
    short[-1] -= 1
    lists = pa.ListArray.from_arrays(pa.array(short), pa.array(fsp.pdg[:short[-1]]))
    p1 = _broken(tmp_path, t, "short.parquet", "pdg", lists)
    with pytest.raises(EventFileError, match=r"short.parquet: column 'pdg': list lengths differ from the counts in 'nfsp'"):
        read_events(p1)
    # a non-finite momentum in the pre-FSI list
    vert = t.particles["vert"]
    px = vert.px.copy()
    px[3] = np.nan
    p2 = _broken(tmp_path, t, "nan.parquet", "px_vert",
                 pa.ListArray.from_arrays(pa.array(vert.offsets.astype(np.int32)), pa.array(px)))
    with pytest.raises(EventFileError, match=r"nan.parquet: column 'px_vert': NaN or infinite particle momenta \(1 row\)"):
        read_events(p2)
    # kinetic instead of total energies: E < |p|
    Ek = fsp.E - fsp.mass
    p3 = _broken(tmp_path, t, "ekin.parquet", "E", pa.ListArray.from_arrays(pa.array(off), pa.array(Ek)))
    with pytest.raises(EventFileError, match=r"ekin.parquet: column 'E': particles with E < \|p\|"):
        read_events(p3)
    # a count column without its arrays
    arrow = pq.read_table(tmp_path / "ok.parquet").drop_columns(["pz"])
    pq.write_table(arrow, tmp_path / "nopz.parquet")
    with pytest.raises(EventFileError, match=r"column 'pz': particle list 'fsp' is incomplete"):
        read_events(tmp_path / "nopz.parquet")
    # a null list
    pdg = pa.array([list(fsp.event(i)["pdg"]) if i != 4 else None for i in range(len(t))], pa.list_(pa.int32()))
    with pytest.raises(EventFileError, match=r"column 'pdg': empty cells \(null lists\) \(1 row\)"):
        read_events(_broken(tmp_path, t, "null.parquet", "pdg", pdg))
    # the command line: one line, exit 2
    assert main(["compare", str(p2), str(tmp_path / "ok.parquet"), "--no-c2st"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nan.parquet" in err and "px_vert" in err


def test_scalar_columns_named_like_particle_fields_are_still_scalars(tmp_path):
    # a user's own scalar "E", or NUISANCE's scalar count nfsp without its arrays, is no particle list
    t = make_table(20).with_columns(E=np.linspace(1, 2, 20), nfsp=np.full(20, 3))
    back = read_events(write_events(t, tmp_path / "e.parquet"))
    assert back.particles == {} and np.array_equal(back["E"], t["E"]) and np.array_equal(back["nfsp"], t["nfsp"])


# ----------------------------------------------------------------------------- NUISANCE tree
def test_flat_tree_round_trip_both_lists(tmp_path):
    import uproot

    t = whole_events()
    path = write_events(t, tmp_path / "w.root")
    tree = uproot.open(path)["FlatTree_VARS"]
    assert {"nfsp", "pdg", "E", "px", "py", "pz", "nvertp", "pdg_vert", "E_vert", "px_vert", "py_vert",
            "pz_vert"} <= set(tree.keys())
    assert tree["E_vert"].typename == "float[]" and tree["pdg_vert"].typename == "int32_t[]"
    assert np.array_equal(tree["nvertp"].array(library="np"), t.particles["vert"].counts)
    back = read_events(path)
    for k in ("fsp", "vert"):
        a, b = t.particles[k], back.particles[k]
        assert np.array_equal(a.counts, b.counts) and np.array_equal(a.pdg, b.pdg)
        for f in ("E", "px", "py", "pz"):  # the tree stores float32 (NUISANCE's "F" leaves)
            assert np.array_equal(getattr(b, f), getattr(a, f).astype(np.float32).astype(np.float64))
    # the lepton's own branches agree with the first particle of each event
    first = back.particles["fsp"].offsets[:-1]
    assert np.allclose(back.particles["fsp"].E[first], back["ELep"], rtol=1e-6)


def test_flat_tree_lepton_only_table_has_no_final_state(tmp_path):
    t = make_table(30)
    t.metadata["xsec_1e-38cm2"] = {"total_per_nucleon": 0.9, "how": "at E = 1 GeV"}
    back = read_events(write_events(t, tmp_path / "lep.root"))
    # the file holds the lepton as nfsp = 1 for NUISANCE, but that is not a 0pi 0p final state
    assert back.particles == {} and back.metadata["particle_lists"] == {"fsp": "lepton only"}
    # the same table once it has its final state: the lepton-only mark does not stick
    back.particles["fsp"] = whole_events(n=30, fsi=False).particles["fsp"]
    again = read_events(write_events(back, tmp_path / "full.root"))
    assert again.metadata["particle_lists"] == {"fsp": "whole events"}
    assert np.array_equal(again.particles["fsp"].pdg, back.particles["fsp"].pdg)
    assert np.array_equal(again.particles["fsp"].E, back.particles["fsp"].E.astype(np.float32).astype(np.float64))
    # a tree written by aiva before the marks existed is lepton-only whatever its nfsp says
    import uproot

    meta = back.metadata.copy()
    meta.pop("particle_lists")
    import json

    with uproot.update(tmp_path / "full.root") as f:
        f["aiva_metadata"] = json.dumps(meta)
    assert read_events(tmp_path / "full.root").particles == {}


def test_flat_tree_of_another_generator_puts_the_lepton_first(tmp_path):
    import awkward as ak
    import uproot

    n = 3
    counts = np.array([2, 3, 1])
    pdg = np.array([2212, 13, 211, 13, 2112, 13])  # the generator's order: hadrons before the muon
    p = np.array([0.3, 0.5, 0.2, 0.6, 0.1, 0.4])
    E = np.sqrt(p ** 2 + np.array([M[c] for c in pdg]) ** 2)
    jag = {"px": np.zeros(6), "py": np.zeros(6), "pz": p, "E": E}
    fsp = ak.zip({**{k: ak.unflatten(v.astype(np.float32), counts) for k, v in jag.items()},
                  "pdg": ak.unflatten(pdg.astype(np.int32), counts)})
    lepE = np.array([E[1], E[3], E[5]])
    data = {"Mode": np.ones(n, np.int32), "PDGnu": np.full(n, 14, np.int32), "Enu_true": np.full(n, 1.0, np.float32),
            "tgta": np.full(n, 12, np.int32), "tgtz": np.full(n, 6, np.int32), "PDGLep": np.full(n, 13, np.int32),
            "ELep": lepE.astype(np.float32), "CosLep": np.ones(n, np.float32)}
    with uproot.recreate(tmp_path / "gen.root") as f:
        f.mktree("FlatTree_VARS", {**{k: v.dtype for k, v in data.items()}, "fsp": fsp.type},
                 counter_name=lambda _: "nfsp", field_name=lambda _o, i: i)
        f["FlatTree_VARS"].extend({**data, "fsp": fsp})
    back = read_events(tmp_path / "gen.root").particles["fsp"]
    assert list(back.pdg) == [13, 2212, 13, 211, 2112, 13]  # others keep their order
    assert np.allclose(back.E[back.offsets[:-1]], lepE)


# ------------------------------------------------------------------------------------ NuHepMC
def _vertex_balance(path):
    """Largest |Σ p_in − Σ p_out| over the vertices of a file [GeV], and the statuses seen."""
    import pyhepmc as hp

    worst, vstat, pstat = 0.0, set(), set()
    with hp.open(str(path)) as f:
        for ev in f:
            for v in ev.vertices:
                vstat.add(v.status)
                pin = sum(np.array([q.momentum.px, q.momentum.py, q.momentum.pz, q.momentum.e]) for q in v.particles_in)
                pout = sum(np.array([q.momentum.px, q.momentum.py, q.momentum.pz, q.momentum.e])
                           for q in v.particles_out)
                worst = max(worst, float(np.max(np.abs(pin - pout))))
            pstat |= {q.status for q in ev.particles}
    return worst, vstat, pstat


@pytest.mark.parametrize("fsi", [True, False], ids=["with-fsi", "no-fsi"])
def test_nuhepmc_whole_events_conform_and_read_back(tmp_path, fsi):
    from aiva.events.nuhepmc_check import check_nuhepmc

    t = whole_events(n=30, fsi=fsi)
    path = write_events(t, tmp_path / "w.hepmc3")
    assert check_nuhepmc(path) == []
    worst, vstat, pstat = _vertex_balance(path)
    assert worst < 1e-9  # four-momentum conserved at the primary and the FSI vertex (P.C.2 remnants)
    if fsi:
        assert vstat == {1, 2} and pstat == {1, 4, 20, 22, 23}
    else:
        assert vstat == {1} and pstat == {1, 4, 20}
    back = read_events(path)
    assert set(back.particles) == set(t.particles)
    for k in t.particles:  # HepMC3 writes 17 significant digits: exact
        assert _equal_bytes(back.particles[k], t.particles[k])
    if fsi:
        same = same_events(t.particles["fsp"], t.particles["vert"])
        assert same.any() and (~same).any()  # the file mixes events with and without FSI


def _with_struck_nucleon(t, seed=9):
    """Adds an "init" list: the beam, then a bound nucleon (Fermi momentum, off shell by 25 MeV)."""
    rng = np.random.default_rng(seed)
    n = len(t)
    E = t["Enu_true"]
    beam = ParticleList(np.ones(n, np.int32), t["PDGnu"], E, np.zeros(n), np.zeros(n), E)
    p = rng.uniform(0, 0.22, (3, n))
    pdg = np.where(rng.uniform(size=n) < 0.5, 2112, 2212)
    EN = np.sqrt(0.939 ** 2 + (p ** 2).sum(axis=0)) - 0.025
    t.particles["init"] = ParticleList.merge([beam, ParticleList(np.ones(n, np.int32), pdg, EN, *p)])
    return t


@pytest.mark.parametrize("fsi", [True, False], ids=["with-fsi", "no-fsi"])
def test_nuhepmc_struck_nucleon(tmp_path, fsi):
    """An "init" list: P.C.1 struck nucleons (status 21) out of a V.C.1 separation vertex (21)."""
    from aiva.events.nuhepmc_check import check_nuhepmc

    t = _with_struck_nucleon(whole_events(n=20, fsi=fsi))
    path = write_events(t, tmp_path / "s.hepmc3")
    assert check_nuhepmc(path) == []
    text = path.read_text()
    assert "P.C.1" in text.split("A NuHepMC.Conventions ")[1].splitlines()[0]
    worst, vstat, pstat = _vertex_balance(path)
    assert worst < 1e-9
    assert vstat == ({1, 2, 21} if fsi else {1, 21}) and {4, 20, 21, 1} <= pstat
    back = read_events(path)
    assert set(back.particles) == set(t.particles)
    for k in t.particles:
        assert _equal_bytes(back.particles[k], t.particles[k])
    # Parquet and the flat tree carry it too (ninitp, pdg_init, ...)
    assert _equal_bytes(read_events(write_events(t, tmp_path / "s.parquet")).particles["init"], t.particles["init"])
    tree = read_events(write_events(t, tmp_path / "s.root")).particles["init"]
    assert np.array_equal(tree.pdg, t.particles["init"].pdg)
    assert np.array_equal(tree.E, t.particles["init"].E.astype(np.float32).astype(np.float64))


def test_nuhepmc_status_tables_and_validator_catches_broken_statuses(tmp_path):
    from aiva.events.nuhepmc_check import check_nuhepmc

    path = write_events(whole_events(n=8), tmp_path / "w.hepmc3")
    text = path.read_text()
    for line in ("A NuHepMC.ParticleStatusIDs 1 4 20 22 23", "A NuHepMC.VertexStatusIDs 1 2",
                 "A NuHepMC.VertexStatusInfo[2].Name FSISummaryVertex", "A NuHepMC.ParticleStatusInfo[22].Name PreFSI"):
        assert line in text, line
    # a pre-FSI particle (status 22) marked final although it enters the FSI vertex
    lines = text.splitlines()
    i = next(k for k, x in enumerate(lines) if x.startswith("P ") and x.endswith(" 22"))
    lines[i] = lines[i][:-2] + "1"
    bad = tmp_path / "bad.hepmc3"
    bad.write_text("\n".join(lines) + "\n")
    assert any(p.startswith("P.R.1:") and "enters a vertex" in p for p in check_nuhepmc(bad))
    # a final-state particle with an internal status
    lines = text.splitlines()
    j = max(k for k, x in enumerate(lines) if x.startswith("P ") and x.endswith(" 1") and " 2009900000 " not in x)
    lines[j] = lines[j][:-1] + "22"
    bad.write_text("\n".join(lines) + "\n")
    assert any(p.startswith("P.R.1:") and "must have status 1" in p for p in check_nuhepmc(bad))


def test_nuhepmc_lepton_only_table_has_no_lists(tmp_path):
    t = make_table(10)
    t.metadata["xsec_1e-38cm2"] = {"total_per_nucleon": 0.9, "how": "at E = 1 GeV"}
    back = read_events(write_events(t, tmp_path / "lep.hepmc3"))
    assert back.particles == {}


# ---------------------------------------------------------------------------------- GENIE gst
def test_gst_particle_arrays(tmp_path):
    import awkward as ak
    import uproot

    t = whole_events(n=12)
    fsp, vert = t.particles["fsp"], t.particles["vert"]
    n = len(t)
    first = fsp.offsets[:-1]
    had = {k: pl.filter(~np.isin(np.arange(len(pl.pdg)), pl.offsets[:-1])) for k, pl in (("f", fsp), ("i", vert))}
    data = {"neu": t["PDGnu"], "fspl": t["PDGLep"], "Ev": t["Enu_true"], "El": fsp.E[first], "pxl": fsp.px[first],
            "pyl": fsp.py[first], "pzl": fsp.pz[first], "cthl": t["CosLep"], "A": t["tgta"], "Z": t["tgtz"],
            **{k: np.zeros(n, bool) for k in ("res", "dis", "coh", "nc", "mec")}, "qel": np.ones(n, bool),
            "cc": np.ones(n, bool), "wght": np.ones(n)}
    arrays = {}
    for s, pl in had.items():
        c = pl.counts.astype(np.int64)
        arrays[s] = ak.zip({f"pdg{s}": ak.unflatten(pl.pdg, c), **{f"{f}{s}": ak.unflatten(getattr(pl, f), c)
                                                                  for f in ("E", "px", "py", "pz")}})
    with uproot.recreate(tmp_path / "g.gst.root") as f:
        f.mktree("gst", {**{k: np.asarray(v).dtype for k, v in data.items()}, **{k: v.type for k, v in arrays.items()}},
                 counter_name=lambda s: "n" + s, field_name=lambda _o, i: i)
        f["gst"].extend({**data, **arrays})
    back = read_events(tmp_path / "g.gst.root")
    for k in ("fsp", "vert"):
        assert _equal_bytes(back.particles[k], t.particles[k])


# ------------------------------------------------------------------------------- selections
def test_selection_and_lepton_first_keep_events_in_step(tmp_path):
    t = whole_events(n=50)
    nc = np.zeros(len(t), bool)
    nc[::5] = True
    t = t.with_columns(PDGLep=np.where(nc, 14, 13), Mode=np.where(nc, 51, 1))
    path = write_events(t, tmp_path / "mixed.parquet")
    back = read_events(path, select=Selection(cc_only=True))
    assert len(back) == (~nc).sum()
    for k in ("fsp", "vert"):
        assert _equal_bytes(back.particles[k], t.particles[k].take(~nc))
    # lepton_first leaves lepton-first lists alone and is idempotent on reordered ones
    pl = t.particles["fsp"]
    assert lepton_first(pl, np.full(len(t), 13)) is pl
