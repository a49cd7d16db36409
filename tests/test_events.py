"""Event table: round trips, ROOT readers and every bad-input error."""
import numpy as np
import pytest
import uproot

from aiva.cli import main
from aiva.errors import EventFileError
from aiva.events import EventTable, read_events, write_csv, write_parquet
from conftest import make_table


def test_parquet_round_trip_keeps_columns_and_metadata(tmp_path, table):
    table.metadata["xsec"] = {"qe": 1.5}
    p = write_parquet(table, tmp_path / "ev.parquet")
    back = read_events(p)
    assert back.names == table.names
    for k in table.names:
        assert np.array_equal(back[k], table[k])
    assert back.metadata == {"producer": "test", "seed": 0, "xsec": {"qe": 1.5}}
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"


def test_csv_round_trip(tmp_path, table):
    back = read_events(write_csv(table, tmp_path / "ev.csv"))
    for k in table.names:
        assert np.allclose(back[k], table[k], rtol=1e-15, atol=0)


def _nuisance_file(path, n=50, seed=1):
    rng = np.random.default_rng(seed)
    enu = rng.uniform(0.5, 3, n)
    with uproot.recreate(path) as f:
        f["FlatTree_VARS"] = {
            "Mode": np.array([1, 2, 11, 26, 13] * (n // 5), dtype=np.int32),
            "Enu_true": enu, "PDGnu": np.full(n, 14, np.int32), "tgta": np.full(n, 12, np.int32),
            "tgtz": np.full(n, 6, np.int32), "PDGLep": np.full(n, 13, np.int32),
            "ELep": 0.2 + 0.5 * (enu - 0.2), "CosLep": rng.uniform(-1, 1, n),
            "Q2": rng.uniform(0, 1, n), "q0": rng.uniform(0, 1, n), "W_nuc_rest": rng.uniform(0.9, 2, n),
            "Weight": np.ones(n), "fScaleFactor": np.full(n, 2.5e-41),
        }
    return enu


def test_read_nuisance_flat_tree(tmp_path):
    p = tmp_path / "nuisance.root"
    enu = _nuisance_file(p)
    t = read_events(p)
    assert len(t) == 50
    assert np.allclose(t["Enu_true"], enu)
    assert list(t["Mode"][:5]) == [1, 2, 11, 26, 13]
    assert "W" in t and "weight" in t
    assert t.metadata["normalisation"]["fScaleFactor_cm2_per_nucleon"] == pytest.approx(2.5e-41)
    assert np.allclose(t["weight"], 2.5e-41 / 1e-38)  # Weight x fScaleFactor in 1e-38 cm2 per nucleon


def test_read_genie_gst(tmp_path):
    p = tmp_path / "gst.root"
    n = 6
    flags = {k: np.zeros(n, dtype=bool) for k in ("qel", "mec", "res", "dis", "coh")}
    for i, k in enumerate(["qel", "mec", "res", "dis", "coh", "qel"]):
        flags[k][i] = True
    cc = np.array([1, 1, 1, 1, 1, 0], dtype=bool)
    with uproot.recreate(p) as f:
        f["gst"] = {
            "neu": np.array([14, 14, 14, 14, -14, 14], np.int32), "fspl": np.array([13, 13, 13, 13, -13, 14], np.int32),
            "Ev": np.full(n, 2.0), "El": np.full(n, 1.2), "cthl": np.linspace(-0.9, 0.9, n),
            "A": np.full(n, 40, np.int32), "Z": np.full(n, 18, np.int32), **flags, "cc": cc, "nc": ~cc,
            "Q2": np.full(n, 0.5), "W": np.full(n, 1.1), "wght": np.ones(n),
        }
    t = read_events(p)
    assert list(t["Mode"]) == [1, 2, 11, 26, -16, 51]
    assert t["tgta"][0] == 40 and t["tgtz"][0] == 18
    assert np.allclose(t["ELep"], 1.2) and np.allclose(t["Enu_true"], 2.0)


@pytest.mark.parametrize("mutate, column, problem", [
    (lambda c: c.pop("CosLep"), "CosLep", "missing required column"),
    (lambda c: c["ELep"].__setitem__(slice(0, 3), np.nan), "ELep", "NaN or infinite values (3 rows)"),
    (lambda c: c["Enu_true"].__setitem__(slice(0, 2), np.inf), "Enu_true", "NaN or infinite values (2 rows)"),
    (lambda c: c["ELep"].__setitem__(slice(0, 4), 5.0), "ELep", "ELep above Enu_true (4 rows)"),
    (lambda c: c["CosLep"].__setitem__(slice(0, 1), 1.5), "CosLep", "|CosLep| > 1 (1 row)"),
    (lambda c: (c["Enu_true"].__imul__(1000), c["ELep"].__imul__(1000)), "Enu_true", "look like MeV"),
    (lambda c: c["ELep"].__setitem__(slice(0, 2), 0.05), "ELep", "below the lepton mass"),
])
def test_bad_input_errors_name_file_column_rows(tmp_path, mutate, column, problem):
    t = make_table()
    mutate(t.columns)
    p = tmp_path / "bad.parquet"
    write_parquet(EventTable(t.columns, {}), p)
    with pytest.raises(EventFileError) as ei:
        read_events(p)
    msg = str(ei.value)
    assert "bad.parquet" in msg and f"'{column}'" in msg and problem in msg, msg
    # the CLI reports the same message and exits with 2
    assert main(["compare", str(p), str(p), "--no-c2st"]) == 2


def test_empty_file(tmp_path):
    p = tmp_path / "empty.parquet"
    p.write_bytes(b"")
    with pytest.raises(EventFileError, match=r"empty.parquet: file is empty"):
        read_events(p)


def test_zero_rows(tmp_path):
    t = make_table(n=0)
    p = write_parquet(t, tmp_path / "zero.parquet")
    with pytest.raises(EventFileError, match=r"zero.parquet: contains no events"):
        read_events(p)


def test_truncated_parquet(tmp_path, table):
    p = write_parquet(table, tmp_path / "trunc.parquet")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(EventFileError, match=r"trunc.parquet: not a readable Parquet file"):
        read_events(p)


def test_non_numeric_csv(tmp_path):
    p = tmp_path / "text.csv"
    p.write_text("Enu_true,PDGnu,tgta,tgtz,PDGLep,ELep,CosLep,Mode\n1.0,14,12,6,13,abc,0.5,1\n")
    with pytest.raises(EventFileError, match=r"text.csv: column .ELep.: values are not numbers"):
        read_events(p)


def test_root_without_known_tree(tmp_path):
    p = tmp_path / "other.root"
    with uproot.recreate(p) as f:
        f["tree"] = {"x": np.arange(3.0)}
    with pytest.raises(EventFileError, match="no NUISANCE 'FlatTree_VARS' or GENIE 'gst' tree"):
        read_events(p)


def test_failed_write_leaves_old_file(tmp_path, table):
    p = write_parquet(table, tmp_path / "keep.parquet")
    before = p.read_bytes()
    bad = EventTable({"x": np.array([object()], dtype=object)}, {})
    with pytest.raises(Exception):  # noqa: B017 - any failure of the writer must leave the old file
        write_parquet(bad, p)
    assert p.read_bytes() == before


def test_cli_compare_writes_json(tmp_path):
    import json

    a = write_parquet(make_table(5000, seed=1), tmp_path / "a.parquet")
    b = write_parquet(make_table(5000, seed=2), tmp_path / "b.parquet")
    out = tmp_path / "m.json"
    assert main(["compare", str(a), str(b), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {"MAP", "MAP_gt5", "MAP3D", "EMD", "C2ST_AUC"} <= set(res)
    assert 0.35 < res["C2ST_AUC"] < 0.65  # same generator, different seeds
