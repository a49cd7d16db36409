"""The generative families behind one interface (:class:`aiva.models.base.Generator`):
family name → (model class, architecture config class). Mixtures of members of one family are a
model kind of their own (:data:`aiva.models.io.MODEL_KINDS`), not a trainable family."""
from __future__ import annotations

from typing import Any

from aiva.models.cfm import CFMConfig, ConditionalCFM
from aiva.models.flow import ConditionalFlow, FlowConfig
from aiva.models.gan import ConditionalGAN, GANConfig
from aiva.utils import ConfigMixin

FAMILIES: dict[str, tuple[Any, type[ConfigMixin]]] = {
    "gan": (ConditionalGAN, GANConfig), "flow": (ConditionalFlow, FlowConfig), "cfm": (ConditionalCFM, CFMConfig)}
