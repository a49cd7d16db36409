"""Generative models of lepton kinematics behind one interface.

* :class:`aiva.models.gan.ConditionalGAN` — the conditional GAN of PRD 112 (2025) 013007.
* :class:`aiva.models.flow.ConditionalFlow` — a conditional neural spline flow (exact likelihood).
* :class:`aiva.models.cfm.ConditionalCFM` — conditional flow matching with a few-step ODE sampler.
* :mod:`aiva.models.ensemble` — ensembles of members and their per-bin bands.
* :func:`aiva.models.io.save_model` / :func:`aiva.models.io.load_model` — safetensors weights
  plus a JSON model card; no pickled code is ever loaded. :func:`aiva.models.io.list_shipped`
  lists the pretrained models, :func:`aiva.models.io.default_model` names the default one.
"""
from aiva.models.gan import ConditionalGAN, GANConfig

__all__ = ["ConditionalGAN", "GANConfig"]
