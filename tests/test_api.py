"""The in-memory API: the README's Python example runs as written, and the API returns objects."""
import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    block = re.search(r"## Python API.*?```python\n(.*?)```", text, re.S)
    assert block, "README has no Python API example"
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "README.md", "exec"), {})
    out = capsys.readouterr().out
    m = re.search(r"MAP (\d+\.\d+)", out)
    assert m and 0.7 < float(m.group(1)) < 1.6  # the default generator against the reference MC at 1 GeV
    assert "chi2/ndf" in out and (tmp_path / "argon_2GeV.root").exists()
    from aiva.events import read_events

    assert block.group(1) in (README.parent / "docs" / "python_api.py").read_text()  # the docs script is the same
    back = read_events(tmp_path / "argon_2GeV.root")
    assert len(back) == 10_000 and set(back["tgta"]) == {40}


def test_api_objects_and_errors():
    import aiva
    from aiva.errors import AivaInputError

    gen = aiva.generate("numu-C12-inclusive-flow", 2000, energy=1.0, seed=1)
    assert isinstance(gen, aiva.EventTable) and np.allclose(gen["Enu_true"], 1.0)
    again = aiva.generate("numu-C12-inclusive-flow", 2000, energy=1.0, seed=1)
    assert np.array_equal(gen["ELep"], again["ELep"])  # the same seed, the same events
    net, card = aiva.load_model("numu-C12-inclusive-flow")
    assert card.family == "flow" and card.energy_range == (0.3, 10.0)
    with pytest.raises(AivaInputError, match="outside the trained range"):
        card.check_energies([20.0])
    with pytest.raises(AivaInputError, match="exactly one of energy"):
        aiva.generate((net, card), 10, energy=1.0, energy_range=(1, 2))
    with pytest.raises(AttributeError):
        aiva.no_such_function  # noqa: B018
