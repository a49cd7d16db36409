"""Golden outputs: the same command and seed give the same bytes as before the redesign of
issue #23 (SHA-256 recorded in ``tests/data/golden.json`` by ``python tests/test_golden.py --write``
before the change). Covers simulate, generate, transfer and escat predict."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


GOLDEN = Path(__file__).parent / "data" / "golden.json"


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_outputs(tmp: Path) -> dict[str, str]:
    """Run each command with fixed seeds into ``tmp``; {name: SHA-256 of its output file}."""
    import torch


    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-for-bit training needs a fixed reduction order
    try:
        return _make(tmp)
    finally:
        torch.set_num_threads(threads)


def _make(tmp: Path) -> dict[str, str]:
    from aiva.cli import main

    runs = {
        "simulate": (["simulate", "--target", "C12", "--energy", "1.0", "--events", "20000", "--seed", "7",
                      "--channels", "qe,res,dis,mec", "--lepton-only", "-q", "-o", str(tmp / "sim.csv")], tmp / "sim.csv"),
        # MC v1's default (lepton only, qe/res/dis): v2 must give the same bytes
        "simulate_flux": (["simulate", "--target", "O16", "--flux", "t2k-nd280-numu", "--events", "5000", "--seed", "8",
                           "--channels", "qe,res,dis", "--lepton-only", "-q", "-o", str(tmp / "simflux.parquet")],
                          tmp / "simflux.parquet"),
        # MC v2's default: whole events with FSI, channels qe,res,dis,mec,coh
        "simulate_whole": (["simulate", "--target", "C12", "--energy", "2.0", "--events", "3000", "--seed", "5", "-q",
                            "-o", str(tmp / "whole.parquet")], tmp / "whole.parquet"),
        "generate": (["generate", "--model", "numu-C12-inclusive-flow", "--energy", "1.0", "--events", "20000",
                      "--seed", "3", "-o", str(tmp / "gen.csv")], tmp / "gen.csv"),
        "generate_gan_flux": (["generate", "--model", "numu-C12-inclusive", "--flux", "t2k-nd280-numu", "--flux-range",
                               "0.3", "10", "--events", "5000", "--seed", "4", "-o", str(tmp / "genflux.csv")],
                              tmp / "genflux.csv"),
        "escat_predict": (["escat", "predict", "--target", "C12", "--energy", "1.0", "--angle", "30", "--omega", "0.05",
                           "0.8", "--points", "50", "-o", str(tmp / "escat.csv")], tmp / "escat.csv"),
    }
    out = {}
    for name, (argv, path) in runs.items():
        assert main(argv) == 0, name
        out[name] = _sha(path)
    data = tmp / "tl_data.parquet"
    assert main(["simulate", "--target", "Ar40", "--energy-range", "0.5", "5", "--events", "6000", "--seed", "9", "-q",
                 "--channels", "qe,res,dis", "--lepton-only", "-o", str(data)]) == 0
    assert main(["transfer", "--base", "numu-C12-inclusive-flow", "--data", str(data), "--out", str(tmp / "tl"),
                 "--epochs", "2", "--seed", "2", "--val-events", "2000", "-q"]) == 0
    out["transfer_weights"] = _sha(tmp / "tl" / "model.safetensors")
    return out


def test_outputs_match_the_golden_hashes(tmp_path):
    want = json.loads(GOLDEN.read_text())
    got = make_outputs(tmp_path)
    assert set(got) == set(want), f"pinned {sorted(want)}, made {sorted(got)}"
    bad = {k: (want[k][:12], got[k][:12]) for k in want if want[k] != got[k]}
    assert not bad, f"outputs changed (golden, now): {bad}"


if __name__ == "__main__":  # pragma: no cover - records the golden hashes
    import tempfile

    if "--write" not in sys.argv:
        sys.exit("usage: python tests/test_golden.py --write")
    with tempfile.TemporaryDirectory() as d:
        hashes = make_outputs(Path(d))
    GOLDEN.write_text(json.dumps(hashes, indent=1) + "\n")
    print(json.dumps(hashes, indent=1))
