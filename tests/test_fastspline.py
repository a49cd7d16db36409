"""The flow's fast sampling path (aiva.models.fastspline) is zuko's inverse, computed with only
the needed arithmetic: equal in float64 to rounding, a true inverse of the flow's forward map,
used by every flow (shipped, stored as float16, mixtures), and not used where it does not apply."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from aiva.models.fastspline import FastSplineSampler
from aiva.models.flow import ConditionalFlow, FlowConfig


def _inputs(n=4000, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    # a quarter of the latents lie beyond the spline box |z| > 5, where the transform is the identity
    z = torch.randn(n, 2, generator=g, dtype=dtype) * 4.0
    e = torch.rand(n, 1, generator=g, dtype=dtype) * 2 - 1
    return z, e


@pytest.mark.parametrize("config", [FlowConfig(), FlowConfig(transforms=3, bins=8, hidden=24, layers=3),
                                    FlowConfig(transforms=2, bins=5, hidden=16, layers=1)])
def test_equals_zuko_inverse_in_float64(config):
    torch.manual_seed(1)
    flow = ConditionalFlow(config)
    with torch.no_grad():  # move the weights away from zuko's near-identity initialisation
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    flow.double()
    fast, ref = flow.sampler(), flow.zuko_sampler()
    assert isinstance(fast, FastSplineSampler)
    z, e = _inputs()
    assert (torch.abs(z) > 5).any()
    with torch.inference_mode():
        x_fast, x_ref = fast(z, e), ref(z, e)
        # the forward map of the flow takes the sample back to its latent
        back = flow.flow(e).transform(x_fast)
    assert torch.allclose(x_fast, x_ref, rtol=0, atol=1e-9)
    assert torch.allclose(back, z, rtol=0, atol=1e-7)
    assert not torch.equal(x_fast, z)  # the test sees a transform that does something


def test_shipped_flow_float32_agrees_to_rounding_and_gives_the_same_bytes_twice():
    from aiva.models.generate import generate_events
    from aiva.models.io import load_model

    net, card = load_model("numu-C12-inclusive-flow")
    assert isinstance(net.sampler(), FastSplineSampler)  # the shipped flow takes the fast path
    z, e = _inputs(20_000, seed=3, dtype=torch.float32)
    z = z / 4.0
    with torch.inference_mode():
        d = (net.sampler()(z, e) - net.zuko_sampler()(z, e)).abs()
    assert float(d.max()) < 1e-3 and float(d.median()) < 1e-5
    a = generate_events(net, card, np.full(5000, 1.0), 11)
    b = generate_events(net, card, np.full(5000, 1.0), 11)
    assert a["ELep"].tobytes() == b["ELep"].tobytes()


def test_float16_stored_mixture_samples_through_the_fast_path():
    from aiva.models.io import load_model

    net, card = load_model("numubar-C12-inclusive")
    assert card.get("dtype") == "float16"
    members = list(net.sampler().samplers)
    assert len(members) > 1 and all(isinstance(m, FastSplineSampler) for m in members)
    z, e = _inputs(3000, seed=5, dtype=torch.float32)
    z = z / 4.0
    with torch.inference_mode():
        for m, member in zip(members, net.members):
            assert float((m(z, e) - member.zuko_sampler()(z, e)).abs().max()) < 1e-3


def test_falls_back_to_zuko_where_it_does_not_apply():
    import zuko

    flow = ConditionalFlow(FlowConfig(transforms=2, bins=4, hidden=8, layers=1))
    flow.flow = zuko.flows.MAF(features=2, context=1, transforms=2, hidden_features=[8])  # affine, not splines
    s = flow.sampler()
    assert not isinstance(s, FastSplineSampler)
    with pytest.raises(ValueError, match="rational-quadratic"):
        FastSplineSampler(flow.flow)
    z, e = _inputs(100, dtype=torch.float32)
    with torch.inference_mode():
        assert s(z, e).shape == (100, 2)
