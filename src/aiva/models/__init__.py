"""Generative models of lepton kinematics behind one interface.

* :class:`aiva.models.gan.ConditionalGAN` — the conditional GAN of PRD 112 (2025) 013007.
* :func:`aiva.models.io.save_model` / :func:`aiva.models.io.load_model` — safetensors weights
  plus a JSON model card; no pickled code is ever loaded.
* :func:`aiva.models.registry.list_models` — the pretrained models shipped with aiva.
"""
from aiva.models.gan import ConditionalGAN, GANConfig

__all__ = ["ConditionalGAN", "GANConfig"]
