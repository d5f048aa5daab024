"""The names of model components and their movable parts (no torch import; commands use them too).

A component is what loads from one folder; a part is a piece of one that get()/use() can hand out
on its own. A unit is what moves between devices: the DiT's condition encoder ("encoder") moves
apart from the rest of the DiT ("dit"), so offloading it frees memory during training.
"""
from __future__ import annotations

COMPONENTS = ("dit", "vae", "text_encoder", "silence_latent")
# Models that are not part of the selected checkpoint; each engine says where its model is (get_extra).
EXTRA_COMPONENTS = ("captioner", "transcriber")
COMPONENT_OF = {"dit": "dit", "decoder": "dit", "encoder": "dit", "vae": "vae", "text_encoder": "text_encoder",
                "tokenizer": "text_encoder", "silence_latent": "silence_latent",
                **{name: name for name in EXTRA_COMPONENTS}}
UNITS = {"dit": ("dit", "encoder"), "decoder": ("dit",), "encoder": ("encoder",), "vae": ("vae",),
         "text_encoder": ("text_encoder",), "tokenizer": (), "silence_latent": ("silence_latent",),
         **{name: (name,) for name in EXTRA_COMPONENTS}}
OFFLOADABLE = ("vae", "text_encoder", "encoder")  # moved to the CPU between uses when offloading is on
