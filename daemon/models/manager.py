"""The model manager: the daemon's one owner of every loaded model (FEATURES SV-1, SV-2).

Registered as the service "models"; engines get it with `manager_from(ctx.services)` (which also
hands it the daemon's settings and event bus) or `ctx.services.get("models")`.

    manager.select("acestep-v15-turbo")      # by folder name (discovery) or by path; loads nothing
    manager.fingerprint()                    # short hex id of the selected DiT (PP-5, PP-6)
    model = manager.get("dit")               # AceStepConditionGenerationModel on manager.device
    with manager.use("vae") as vae:          # on the compute device inside the block; with
        latents = vae.encode(audio)...       #   offloading on, back on the CPU afterwards
    manager.get("tokenizer"), manager.use("text_encoder"), manager.use("encoder") (the DiT's
    condition encoder), manager.get("decoder"), manager.get("silence_latent") ([1, T, 64])
    manager.offload("vae"); manager.unload(["vae"]); manager.unload()   # frees memory
    manager.get_extra("captioner", folder, load)   # a model beside the checkpoint (daemon/caption)
    manager.device, manager.dtype, manager.snapshot(), manager.describe_device()

Lazy: nothing loads until asked, then only the component asked for. Thread-safe: loads and moves
happen under one lock, so two jobs asking at once share one copy. Offloadable: "vae",
"text_encoder" and "encoder"; they go back to the device before every use. `snapshot()` never
loads or waits for a load.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

import torch

from daemon.models import discovery, loader
from daemon.models.checkpoint_files import model_fingerprint
from daemon.models.components import COMPONENT_OF, COMPONENTS, EXTRA_COMPONENTS, OFFLOADABLE, UNITS
from daemon.models.device import describe_device, dtype_name, resolve_device, resolve_dtype
from shared.config import DaemonSettings
from shared.errors import CheckpointError, StudioError
from shared.home import studio_home

log = logging.getLogger(__name__)

PREFERRED_CHECKPOINT = "acestep-v15-turbo"
CPU = torch.device("cpu")


@dataclass
class _Loaded:
    """One loaded component and where its movable units are."""

    obj: Any
    source: str
    placement: dict[str, str]  # movable unit -> device string
    nbytes: int
    seconds: float = 0.0
    attn_implementation: str | None = None
    tokenizer: Any = None
    offloaded: set[str] = field(default_factory=set)


class ModelManager:
    """Owns the selected checkpoint's components; see the module docstring for the API."""

    def __init__(self, config: DaemonSettings | None = None, home: Path | None = None, bus: Any = None) -> None:
        self._config = config
        self._home = Path(home) if home is not None else None
        self._bus = bus
        self._lock = threading.RLock()  # held while loading, moving or unloading
        self._state_lock = threading.Lock()  # held briefly; snapshot() takes only this one
        self._loaded: dict[str, _Loaded] = {}
        self._users: dict[str, int] = {}
        self._selected: discovery.CheckpointInfo | None = None
        self._fingerprints: dict[str, str] = {}
        self._device: torch.device | None = None
        self._dtype: torch.dtype | None = None

    # -- settings -------------------------------------------------------------------------
    def bind(self, config: DaemonSettings | None = None, home: Path | None = None, bus: Any = None) -> None:
        """Hand over the daemon's settings, home and bus (first ones win; device choice is kept)."""
        if config is not None and self._config is None and self._device is None:
            self._config = config
        if home is not None and self._home is None:
            self._home = Path(home)
        if bus is not None and self._bus is None:
            self._bus = bus

    @property
    def config(self) -> DaemonSettings:
        if self._config is None:
            self._config = DaemonSettings()
        return self._config

    @property
    def home(self) -> Path:
        if self._home is None:
            self._home = studio_home()
        return self._home

    @property
    def offload_enabled(self) -> bool:
        return bool(self.config.offload)

    @property
    def device(self) -> torch.device:
        """The compute device (DaemonSettings.device, auto-selected by default)."""
        if self._device is None:
            self._device = resolve_device(self.config.device)
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """The model dtype (DaemonSettings.dtype; auto: bf16 Ampere+/XPU, fp16 older CUDA/MPS, fp32 CPU)."""
        if self._dtype is None:
            self._dtype = resolve_dtype(self.device, self.config.dtype)
        return self._dtype

    def describe_device(self) -> dict:
        """The device and dtype in use, or why the configured device cannot be used."""
        try:
            return describe_device(self.device, self.dtype)
        except StudioError as err:
            return {"device": self.config.device, "resolved": False, "error": str(err)}

    # -- discovery and selection ----------------------------------------------------------
    def roots(self) -> list[dict]:
        return discovery.checkpoint_roots(self.config.checkpoint_roots, self.home, self.config.demo_root)

    def checkpoints(self) -> list[dict]:
        """Every checkpoint found under the roots, with `selected` marking the current one."""
        current = self._selected.path if self._selected else None
        found = discovery.discover([r["path"] for r in self.roots()])
        return [{**info.to_dict(), "selected": info.path == current} for info in found]

    def add_root(self, folder: str) -> str:
        return discovery.add_root(self.home, folder)

    def remove_root(self, folder: str) -> str:
        return discovery.remove_root(self.home, folder)

    @property
    def selected(self) -> discovery.CheckpointInfo | None:
        return self._selected

    def select(self, name_or_path: str) -> dict:
        """Choose the checkpoint to use; components of another checkpoint are unloaded, none load."""
        info = discovery.find_checkpoint(name_or_path, [r["path"] for r in self.roots()])
        with self._lock:
            stale = [name for name, item in self._loaded.items()
                     if name in COMPONENTS and item.source != self._source(name, info)]
            self._refuse_if_in_use(stale, "switch checkpoints")
            self._selected = info
            self._drop(stale)
        log.info("selected checkpoint %s (%s)", info.name, info.path)
        self._emit("model_selected", checkpoint=info.to_dict())
        return info.to_dict()

    def _ensure_selected(self) -> discovery.CheckpointInfo:
        if self._selected is not None:
            return self._selected
        found = discovery.discover([r["path"] for r in self.roots()])
        preferred = [i for i in found if i.name == PREFERRED_CHECKPOINT]
        if preferred or len(found) == 1:
            self.select((preferred or found)[0].path)
            return self._selected  # type: ignore[return-value]
        names = ", ".join(i.name for i in found) or "none found; add a checkpoint root"
        raise CheckpointError(f"no checkpoint selected; choose one with `load NAME` (available: {names})")

    @staticmethod
    def _source(component: str, info: discovery.CheckpointInfo) -> str | None:
        return {"dit": info.path, "silence_latent": info.path, "vae": info.vae,
                "text_encoder": info.text_encoder}[component]

    def fingerprint(self) -> str:
        """The selected DiT's fingerprint (config.json + safetensors headers; loads nothing)."""
        info = self._ensure_selected()
        if info.path not in self._fingerprints:
            self._fingerprints[info.path] = model_fingerprint(Path(info.path))
        return self._fingerprints[info.path]

    # -- loading and placement ------------------------------------------------------------
    def load(self, names: list[str] | tuple[str, ...] = ("dit",)) -> dict:
        """Load components (placed as the offload policy says); returns the snapshot."""
        for name in names:
            self._component(self._component_of(name))
        return self.snapshot()

    def get(self, name: str) -> Any:
        """A component or part (encoder, decoder, tokenizer), loaded and on the compute device."""
        with self._lock:
            item = self._component(self._component_of(name))
            for unit in UNITS[name]:
                self._move(item, unit, self.device)
                item.offloaded.discard(unit)
            return item.tokenizer if name == "tokenizer" else self._part(item.obj, name)

    @contextlib.contextmanager
    def use(self, name: str) -> Iterator[Any]:
        """The component on the compute device for the block; offloaded after when offloading is on."""
        with self._lock:
            obj = self.get(name)
            with self._state_lock:
                for unit in UNITS[name]:
                    self._users[unit] = self._users.get(unit, 0) + 1
        try:
            yield obj
        finally:
            with self._state_lock:
                for unit in UNITS[name]:
                    self._users[unit] -= 1
            if self.offload_enabled:
                for unit in UNITS[name]:
                    if unit in OFFLOADABLE:
                        self.offload(unit)

    def get_extra(self, name: str, source: str,
                  load: Callable[[torch.device, torch.dtype], tuple[torch.nn.Module, Any]]) -> tuple[Any, Any]:
        """A model beside the checkpoint (EXTRA_COMPONENTS: the captioner, the transcriber) on the
        compute device. `load(device, dtype)` -> (module, companion such as its processor) runs on
        first use or when `source` changed; returns (module, companion)."""
        with self._lock:
            item = self._loaded.get(name)
            if item is not None and item.source != source:
                self._refuse_if_in_use([name], f"switch the {name}")
                self._drop([name])
                item = None
            if item is None:
                started = time.perf_counter()
                module, companion = load(self.device, self.dtype)
                item = _Loaded(module, source, {name: str(self.device)}, _nbytes(module), tokenizer=companion)
                item.seconds = round(time.perf_counter() - started, 3)
                with self._state_lock:
                    self._loaded[name] = item
                log.info("loaded %s from %s in %.2f s", name, source, item.seconds)
                self._emit("model_loaded", component=name, checkpoint=source, seconds=item.seconds,
                           placement=dict(item.placement), dtype=dtype_name(self.dtype))
            self._move(item, name, self.device)
            with self._state_lock:
                item.offloaded.discard(name)
            return item.obj, item.tokenizer

    def offload(self, name: str) -> bool:
        """Move a component or part to the CPU now; False when it is not loaded or is in use."""
        component = self._component_of(name)
        with self._lock:
            item = self._loaded.get(component)
            if item is None:
                return False
            if any(self._users.get(unit, 0) for unit in UNITS[name]):
                log.info("%s is in use; not offloading it now", name)
                return False
            for unit in UNITS[name]:
                self._move(item, unit, CPU)
                with self._state_lock:
                    item.offloaded.add(unit)
        return True

    def unload(self, names: list[str] | None = None, timeout: float = -1) -> list[str]:
        """Forget components (all by default) and free their memory; returns what was unloaded.

        With a timeout (seconds) it gives up with StudioError when a load holds the manager longer."""
        if not self._lock.acquire(timeout=timeout):
            raise StudioError("a model is loading right now; unload it when the load has finished")
        try:
            wanted = [self._component_of(n) for n in (names or list(self._loaded))]
            present = [n for n in dict.fromkeys(wanted) if n in self._loaded]
            self._refuse_if_in_use(present, "unload")
            self._drop(present)
        finally:
            self._lock.release()
        return present

    def close(self) -> None:
        with contextlib.suppress(StudioError):
            self.unload()

    @staticmethod
    def _component_of(name: str) -> str:
        if name not in COMPONENT_OF:
            raise StudioError(f"unknown model component {name!r}; known: {', '.join(COMPONENT_OF)}")
        return COMPONENT_OF[name]

    def _component(self, name: str) -> _Loaded:
        if name in EXTRA_COMPONENTS:
            raise StudioError(f"the {name} is loaded by the job that uses it (a caption job), not on its own")
        with self._lock:
            if name not in self._loaded:
                info = self._ensure_selected()
                started = time.perf_counter()
                item = self._load(name, info)
                item.seconds = round(time.perf_counter() - started, 3)
                with self._state_lock:
                    self._loaded[name] = item
                log.info("loaded %s from %s in %.2f s", name, item.source, item.seconds)
                self._emit("model_loaded", component=name, checkpoint=info.name, seconds=item.seconds,
                           placement=dict(item.placement), dtype=dtype_name(self.dtype))
            return self._loaded[name]

    def _load(self, name: str, info: discovery.CheckpointInfo) -> _Loaded:
        """Load on the CPU, then place each unit: on the device, or on the CPU when offloadable."""
        device, dtype = self.device, self.dtype
        source = self._source(name, info)
        if source is None:
            folder = Path(info.path).parent / (discovery.VAE_FOLDER if name == "vae" else discovery.TEXT_ENCODER_FOLDER)
            raise CheckpointError(f"{folder}: missing (the checkpoint {info.name} needs it beside it)")
        if name == "silence_latent":
            latent = loader.load_silence_latent(Path(source), device, dtype)
            return _Loaded(latent, source, {name: str(device)}, _nbytes(latent))
        if name == "dit":
            model, attn = loader.load_dit(Path(source), CPU, dtype, compute_device=device)
            item = _Loaded(model, source, {"dit": "cpu", "encoder": "cpu"}, _nbytes(model), attn_implementation=attn)
        elif name == "vae":
            vae = loader.load_vae(Path(source), CPU, dtype)
            item = _Loaded(vae, source, {"vae": "cpu"}, _nbytes(vae))
        else:
            tokenizer, model = loader.load_text_encoder(Path(source), CPU, dtype, compute_device=device)
            item = _Loaded(model, source, {"text_encoder": "cpu"}, _nbytes(model), tokenizer=tokenizer)
        for unit in list(item.placement):
            if self.offload_enabled and unit in OFFLOADABLE:
                item.offloaded.add(unit)
            else:
                self._move(item, unit, device)
        return item

    def _move(self, item: _Loaded, unit: str, device: torch.device) -> None:
        """Move one unit of a loaded component; a no-op when it is already there."""
        if item.placement.get(unit) == str(device):
            return
        if unit == "silence_latent":
            item.obj = item.obj.to(device)
        elif unit == "encoder":
            item.obj.encoder.to(device)
        elif unit == "dit":
            _move_except(item.obj, device, skip="encoder")
        else:
            item.obj.to(device)
        with self._state_lock:
            item.placement[unit] = str(device)
        log.debug("moved %s to %s", unit, device)  # no event: offloading moves on every use

    @staticmethod
    def _part(obj: Any, name: str) -> Any:
        return getattr(obj, name) if name in ("encoder", "decoder") else obj

    def _refuse_if_in_use(self, components: list[str], action: str) -> None:
        with self._state_lock:
            busy = [u for u, count in self._users.items() if count and COMPONENT_OF[u] in components]
        if busy:
            raise StudioError(f"cannot {action}: {', '.join(busy)} in use by a running job")

    def _drop(self, names: list[str]) -> None:
        if not names:
            return
        with self._state_lock:
            for name in names:
                self._loaded.pop(name, None)
        gc.collect()
        if self._device is not None and self._device.type == "cuda":
            torch.cuda.empty_cache()
        log.info("unloaded %s", ", ".join(names))
        self._emit("model_unloaded", components=names)

    # -- status ---------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """What is selected and loaded, where, in which dtype; cheap, never loads or waits."""
        with self._state_lock:
            components = {
                name: {
                    "source": item.source,
                    "placement": dict(item.placement),
                    "offloaded": sorted(item.offloaded),
                    "bytes": item.nbytes,
                    "load_seconds": item.seconds,
                    "attn_implementation": item.attn_implementation,
                }
                for name, item in self._loaded.items()
            }
            users = {k: v for k, v in self._users.items() if v}
        selected = self._selected
        return {
            "selected": selected.to_dict() if selected else None,
            "fingerprint": self._fingerprints.get(selected.path) if selected else None,
            "device": str(self._device) if self._device is not None else None,
            "dtype": dtype_name(self._dtype) if self._dtype is not None else None,
            "offload": self.offload_enabled,
            "components": components,
            "in_use": users,
        }

    def _emit(self, type: str, **data: Any) -> None:
        if self._bus is not None:
            self._bus.emit(type, data)


def _move_except(module: torch.nn.Module, device: torch.device, skip: str) -> None:
    """module.to(device) for every child but `skip` (and the module's own parameters and buffers)."""
    for name, child in module.named_children():
        if name != skip:
            child.to(device)
    for param in module.parameters(recurse=False):
        param.data = param.data.to(device)
    for key, buffer in list(module._buffers.items()):
        if buffer is not None:
            module._buffers[key] = buffer.to(device)


def _nbytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    tensors = list(obj.parameters()) + list(obj.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def manager_from(services: Any) -> ModelManager:
    """The daemon's model manager, bound to the daemon's settings, home and event bus."""
    manager = services.get("models")
    manager.bind(config=services.built("config"), home=services.built("home"), bus=services.built("bus"))
    return manager
