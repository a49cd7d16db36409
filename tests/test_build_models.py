"""configs/shipped.toml and tools/build_models.py: every shipped model has a recipe, a toy recipe
builds through the same code path, `aiva mix`, and benchmarks that never write into the package."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aiva.build import Builder, build_order, compare_cards, load_recipes, shipped_files, shipped_recipes
from aiva.cli import main
from aiva.errors import AivaInputError
from aiva.models.flow import ConditionalFlow, FlowConfig
from aiva.models.io import load_model, save_model
from test_gan import CARD

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "configs" / "shipped.toml"
TOOL = ROOT / "tools" / "build_models.py"
TINY = FlowConfig(transforms=1, bins=4, hidden=8, layers=1)


def test_recipes_cover_every_shipped_model_and_say_their_kind():
    rec = load_recipes(RECIPES)
    shipped = set(shipped_files())
    assert set(shipped_recipes(rec)) == shipped, "every shipped .safetensors needs exactly one recipe"
    kinds = {n: rec["models"][n]["kind"] for n in shipped}
    assert kinds["numu-Ar40-inclusive"] == "transfer" and kinds["numubar-C12-inclusive"] == "store"
    mixture = rec["models"]["numubar-C12-inclusive-f32"]  # the float32 mixture, stored compactly since #26
    assert mixture["kind"] == "mixture" and not mixture["ship"]
    assert rec["models"]["numubar-C12-inclusive"]["parent"]["recipe"] == "numubar-C12-inclusive-f32"
    distilled = rec["models"]["numubar-C12-inclusive-distil"]  # the single-flow trial of issue #26, not shipped
    assert distilled["kind"] == "distil" and not distilled["ship"]
    assert distilled["teacher"]["weights_sha256"] == mixture["weights_sha256"]
    assert kinds["escat-C12"] == "escat-fit" and kinds["escat-Fe56"] == "escat-transfer"
    assert kinds["numu-C12-inclusive-flow"] == "train"
    for n in shipped:  # each says what is not known about how it was made
        assert rec["models"][n].get("unknown"), n
    # the recipes agree with the cards: data hashes, weights hashes, seeds, mixture order
    for n, r in rec["models"].items():
        if n not in shipped or r["kind"].startswith("escat"):
            continue
        card = json.loads(shipped_files()[n].with_suffix(".json").read_text())
        assert card["weights_sha256"] == r["weights_sha256"], n
        if "data" in r:  # a distilled model (kind distil-gan) has its parent's samples, no data file
            assert card["training"]["data"][0]["sha256"] == rec["data"][r["data"]]["sha256"], n
            assert card["training"]["data_metadata"]["seed"] == rec["data"][r["data"]]["seed"], n
        if r["kind"] == "store":  # the same model stored compactly: its lineage parent is its source's
            assert card["stored_from"]["weights_sha256"] == r["parent"]["weights_sha256"], n
        elif r.get("parent"):
            assert card["parent"]["weights_sha256"] == r["parent"]["weights_sha256"], n
        if r["kind"] == "distil":
            assert card["training"]["distillation"]["teacher"]["weights_sha256"] == r["teacher"]["weights_sha256"], n
        if r["kind"] == "mixture":
            assert [m["seed"] for m in card["mixture"]] == [m["seed"] for m in r["members"]]
            assert [m["lr"] for m in card["training"]["mixed_from"]] == [m["lr"] for m in r["members"]]
    # parents come before their children when rebuilt
    order = build_order(rec, ["numu-Ar40-inclusive", "escat-He3"], with_parents=True)
    assert order.index("numu-C12-inclusive-flow-20ep") < order.index("numu-Ar40-inclusive")
    assert order.index("escat-C12") < order.index("escat-He3")


def test_list_runs_and_names_every_recipe():
    out = subprocess.run([sys.executable, str(TOOL), "--list"], capture_output=True, text=True, check=True).stdout
    for name in shipped_files():
        assert re.search(rf"^{re.escape(name)}\s", out, re.MULTILINE), name
    assert "intermediate, not shipped" in out and "metrics.benchmark_transfer" in out


def test_bad_recipe_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "r.toml"
    bad.write_text('[models.x]\nkind = "bake"\n')
    with pytest.raises(AivaInputError, match="models.x: key 'kind'"):
        load_recipes(bad)
    bad.write_text('[models.x]\nkind = "transfer"\ndata = "d"\n')
    with pytest.raises(AivaInputError, match="needs key"):
        load_recipes(bad)
    r = subprocess.run([sys.executable, str(TOOL), "--recipes", str(bad), "--list"], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def _tiny_recipes(tmp_path) -> Path:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text("[model]\n" + "".join(f"{k} = {v}\n" for k, v in TINY.to_dict().items()))
    text = f"""
[check.quality]
mean_MAP = 100.0
[data.toy]
target = "C12"
probe = "numu"
config = "default"
channels = ["qe"]
energy_range = [0.3, 10.0]
events = 400
seed = 5
[models.toy-flow]
kind = "train"
family = "flow"
data = "toy"
config = "{cfg}"
training = {{ epochs = 1, batch_size = 128, seed = 3, val_events = 300, val_energies = [1.0] }}
evaluation = {{ kind = "quality", events = 500, energies = [1.0], c2st = false }}
"""
    path = tmp_path / "recipes.toml"
    path.write_text(text)
    return path


def test_a_tiny_recipe_builds_a_model_whose_card_records_recipe_data_and_seed(tmp_path):
    rec = load_recipes(_tiny_recipes(tmp_path))
    b = Builder(rec, tmp_path / "out", progress=False)
    w = b.build("toy-flow")
    assert w == tmp_path / "out" / "toy-flow.safetensors"
    _, card = load_model(w)
    assert card["name"] == "toy-flow" and card["family"] == "flow"
    r = card["recipe"]
    assert r["name"] == "toy-flow" and r["kind"] == "train" and r["seeds"] == 3 and len(r["sha256"]) == 64
    assert r["data"]["sha256"] == card["training"]["data"][0]["sha256"]
    assert card["training"]["data"][0]["n_events"] == 400 and card["training"]["data_metadata"]["seed"] == 5
    assert card["training"]["train_config"]["seed"] == 3
    ev = card["metrics"]["evaluation"]
    assert list(ev["per_energy"]) == ["1.0"] and ev["per_energy"]["1.0"]["n_ref"] == 500
    # the declared data hash is enforced
    bad = rec["data"]["toy"] | {"sha256": "0" * 64}
    rec2 = {**rec, "data": {"toy": bad}}
    with pytest.raises(AivaInputError, match="reference MC changed"):
        Builder(rec2, tmp_path / "out", progress=False).data("toy")
    # compare_cards: a card against itself passes; a shifted metric beyond the tolerance fails
    rows = compare_cards(card, card, rec["models"]["toy-flow"], rec["check"])
    assert all(x["ok"] for x in rows)
    worse = json.loads(json.dumps(card))
    worse["metrics"]["evaluation"]["mean_MAP"] += 101
    assert not all(x["ok"] for x in compare_cards(card, worse, rec["models"]["toy-flow"], rec["check"]))


def test_a_tiny_distil_recipe_trains_one_flow_on_teacher_samples(tmp_path):
    """kind = "distil": a parent flow fine-tuned on samples of a teacher mixture plus the data,
    through the same code path as the shipped numubar-C12-inclusive."""
    path = _tiny_recipes(tmp_path)
    path.write_text(path.read_text() + """
[models.toy-mix]
kind = "mixture"
parent = { recipe = "toy-flow" }
data = "toy"
freeze = "none"
training = { epochs = 1, batch_size = 128, val_events = 300, val_energies = [1.0] }
members = [{ seed = 1 }, { seed = 2 }]
evaluation = { kind = "quality", events = 500, energies = [1.0], c2st = false }
[models.toy-distil]
kind = "distil"
parent = { recipe = "toy-flow" }
teacher = { recipe = "toy-mix" }
data = "toy"
freeze = "none"
distil = { samples = 1000, seed = 4, energy_power = 1.0 }
training = { epochs = 1, batch_size = 128, seed = 3, val_events = 300, val_energies = [1.0] }
evaluation = { kind = "quality", events = 500, energies = [1.0], c2st = false }
""")
    from aiva.models.io import sha256_file

    rec = load_recipes(path)
    assert build_order(rec, ["toy-distil"], with_parents=True) == ["toy-flow", "toy-mix", "toy-distil"]
    b = Builder(rec, tmp_path / "out", progress=False)
    for n in ("toy-flow", "toy-mix"):
        b.build(n)
    net, card = load_model(b.build("toy-distil"))
    assert card["family"] == "flow" and card["recipe"]["kind"] == "distil"  # one flow, not a mixture
    d = card["training"]["distillation"]
    assert d["teacher"]["weights_sha256"] == sha256_file(tmp_path / "out" / "toy-mix.safetensors")
    assert card["parent"]["weights_sha256"] == sha256_file(tmp_path / "out" / "toy-flow.safetensors")
    assert d["kept"] + d["dropped_outside_proxy_domain"] == d["teacher_samples"] == 1000
    assert d["with_data"] and d["n_train"] == 400 + d["kept"] and d["energy_power"] == 1.0
    # starting from member 1 of the mixture instead of the parent flow: that member's weights
    path.write_text(path.read_text() + """
[models.toy-distil-m]
kind = "distil"
parent = { recipe = "toy-mix", member = 1 }
teacher = { recipe = "toy-mix" }
data = "toy"
freeze = "none"
distil = { samples = 500, seed = 4 }
training = { epochs = 1, batch_size = 128, seed = 3, lr = 1e-12, val_events = 300, val_energies = [1.0] }
evaluation = { kind = "quality", events = 500, energies = [1.0], c2st = false }
""")
    rec = load_recipes(path)
    b.recipes = rec
    mix, _ = load_model(tmp_path / "out" / "toy-mix.safetensors")
    net_m, card_m = load_model(b.build("toy-distil-m"))
    assert card_m["parent"]["name"].endswith("member 1")
    start = mix.members[1].state()
    moved = max(float((net_m.state()[k].double() - start[k].double()).abs().max()) for k in start)
    assert moved < 1e-6  # lr 1e-12: still member 1
    rec["models"]["toy-distil-m"]["parent"]["member"] = 5
    b.built.pop("toy-distil-m")
    with pytest.raises(AivaInputError, match="member 5 needs a mixture parent"):
        b.build("toy-distil-m")
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace("teacher = { recipe = \"toy-mix\" }", "teacher = { recipe = \"nope\" }"))
    with pytest.raises(AivaInputError, match="key 'teacher': no recipe 'nope'"):
        load_recipes(bad)


def test_distillation_conditions_follow_the_energy_weight():
    """Conditions resampled from the training energies with probability ~ E^-p: for E uniform on
    [0.3, 10] and p = 1 the fraction below 1 GeV is ln(1/0.3)/ln(10/0.3) = 0.343; the teacher's
    samples are kept only inside the proxy domain."""
    from aiva.physics.kinematics import enu_to_proxy
    from aiva.training.run import distillation_proxies

    class Box(torch.nn.Module):  # a teacher whose samples are uniform on [-1.2, 1.2]^2
        latent_dim = 2

        def forward(self, z, e):
            return 1.2 * (2 * torch.special.ndtr(z) - 1)

    class Teacher:
        def sampler(self):
            return Box()

    E = np.random.default_rng(1).uniform(0.3, 10.0, 20_000)
    X, note = distillation_proxies(Teacher(), enu_to_proxy(E), 40_000, seed=2, energy_power=1.0)
    Ep = 0.3 + (X[:, 0] + 1) * 9.7 / 2
    frac = np.mean(Ep < 1.0)
    assert abs(frac - np.log(1 / 0.3) / np.log(10 / 0.3)) < 4 * np.sqrt(0.343 * 0.657 / len(X)) + 0.01
    assert np.all(np.abs(X[:, 1:]) <= 1) and abs(note["kept"] / 40_000 - (1 / 1.2) ** 2) < 0.01
    X2, _ = distillation_proxies(Teacher(), enu_to_proxy(E), 40_000, seed=2, energy_power=1.0)
    assert np.array_equal(X, X2)  # same seed, same samples
    with pytest.raises(AivaInputError, match="at least 1 teacher sample"):
        distillation_proxies(Teacher(), enu_to_proxy(E), 0, seed=2)


def _flow_file(path, seed, **card):
    torch.manual_seed(seed)
    return save_model(ConditionalFlow(TINY), path, {**CARD, "name": path.stem, **card,
                                                   "training": {"train_config": {"seed": seed, "lr": 1e-3}}})


def test_aiva_mix_makes_a_mixture_that_loads(tmp_path, capsys):
    a, b = _flow_file(tmp_path / "a", 1), _flow_file(tmp_path / "b", 2)
    out = tmp_path / "mix.safetensors"
    assert main(["mix", str(a), str(b), "--name", "ab", "-o", str(out)]) == 0
    net, card = load_model(out)
    assert card["family"] == "mixture" and card["name"] == "ab" and len(net.members) == 2
    assert [m["seed"] for m in card["mixture"]] == [1, 2]
    assert [m["weights_sha256"] for m in card["training"]["mixed_from"]] == [
        json.loads(p.with_suffix(".json").read_text())["weights_sha256"] for p in (a, b)]


def test_aiva_mix_errors_exit_2_with_one_line(tmp_path, capsys):
    a, b = _flow_file(tmp_path / "a", 1), _flow_file(tmp_path / "b", 2, target="Ar40")
    out = str(tmp_path / "m.safetensors")
    cases = [([str(a)], "at least 2"), ([str(a), str(b)], "differ in 'target'"),
             ([str(a), str(tmp_path / "nope.safetensors")], "nope")]
    for models, msg in cases:
        capsys.readouterr()
        assert main(["mix", *models, "-o", out]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and msg in err, err
    assert not Path(out).exists()


def test_no_benchmark_writes_into_the_package_models():
    """Benchmarks only read shipped models: none names the package's models folder next to a
    write or copy, and none keeps a --ship option."""
    writes = re.compile(r"write_text|write_bytes|copyfile|copy2|shutil\.copy|save_model|save_xsec_model"
                        r"|open\([^)]*['\"]w")
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        text = path.read_text()
        assert "--ship" not in text, f"{path.name} still has a --ship option"
        for i, line in enumerate(text.splitlines(), 1):
            if "MODELS_DIR" in line or "data/models" in line or '"data" / "models"' in line:
                assert not writes.search(line), f"{path.name}:{i} writes into the package: {line.strip()}"
        for m in re.finditer(r"(save_model|save_xsec_model|copyfile)\(([^,)]*)", text):
            assert "MODELS_DIR" not in m.group(2), f"{path.name}: {m.group(0)}"
        # reading it is fine; a variable holding a path inside it (to write through later) is not
        assert not re.search(r"\w+\s*=\s*\(?\s*MODELS_DIR\s*/", text), f"{path.name}: a path into MODELS_DIR"
