"""Model commands and the `load` job: checkpoints, load, unload, models, gpu.

- `checkpoints` {add_root?, remove_root?} -> roots, checkpoints (with the VAE and text encoder
  each uses) and the selected one. Discovery only: no torch, no loading.
- `load` (a job, since loading is slow): settings `checkpoint` (name or path) and `components`.
- `unload` {components?} frees memory now; `models` is the manager's snapshot; `gpu` the GPU
  status with the monitor's peak and average.

Also registers the services "models" (daemon.models.manager.ModelManager) and "gpu"
(daemon.models.gpu.GpuMonitor). Imports stay cheap: torch loads with the manager, on first need.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daemon.models import discovery
from daemon.models.components import COMPONENT_OF
from daemon.models.gpu import GpuMonitor, gpu_status
from daemon.registry import command, job_kind, on_startup, service
from shared.errors import ProtocolError, SettingsError
from shared.home import studio_home
from shared.settings import SettingsGroup, setting

UNLOAD_WAIT_S = 0.2


def _build_manager(services: Any) -> Any:
    from daemon.models.manager import ModelManager

    return ModelManager(config=services.built("config"), home=services.built("home"), bus=services.built("bus"))


def _build_gpu_monitor(services: Any) -> GpuMonitor:
    config = services.built("config")
    monitor = GpuMonitor(bus=services.built("bus"))
    if config is not None:
        monitor.alert_percent = config.gpu_alert_percent
        monitor.poll_seconds = config.gpu_poll_seconds
    return monitor


service("models", _build_manager)
service("gpu", _build_gpu_monitor)


def _manager(services: Any) -> Any:
    from daemon.models.manager import manager_from

    return manager_from(services)


def _gpu_monitor(services: Any) -> GpuMonitor:
    """The GPU monitor, bound to the daemon's bus and settings and started (no-op without a GPU)."""
    monitor: GpuMonitor = services.get("gpu")
    monitor.start()
    return monitor


on_startup(_gpu_monitor)


def _home(ctx: Any) -> Any:
    return ctx.services.built("home") or studio_home()


def models_status(services: Any) -> dict:
    """The models part of the daemon status: the manager's snapshot, or "nothing loaded yet"."""
    manager = services.built("models")
    if manager is None:
        return {"selected": None, "fingerprint": None, "device": None, "dtype": None,
                "offload": None, "components": {}, "in_use": {}}
    return manager.snapshot()


@command("checkpoints", state_changing=True)
def checkpoints(ctx: Any, content: dict) -> dict:
    """List checkpoint roots and checkpoints; `add_root` / `remove_root` change the user's roots."""
    home = _home(ctx)
    changed = None
    for key, change in (("add_root", discovery.add_root), ("remove_root", discovery.remove_root)):
        folder = content.get(key)
        if folder is not None:
            if not isinstance(folder, str) or not folder:
                raise ProtocolError(f"content.{key}: expected a folder path, got {folder!r}")
            changed = {key: change(home, folder)}
    roots = discovery.checkpoint_roots(ctx.config.checkpoint_roots, home, ctx.config.demo_root)
    manager = ctx.services.built("models")
    selected = manager.selected.path if manager is not None and manager.selected else None
    found = discovery.discover([r["path"] for r in roots])
    return {
        "roots": roots,
        "checkpoints": [{**info.to_dict(), "selected": info.path == selected} for info in found],
        "selected": selected,
        **(changed or {}),
    }


def _check_components(names: list[str]) -> None:
    unknown = [n for n in names if n not in COMPONENT_OF]
    if unknown:
        raise SettingsError(f"load.components: unknown {', '.join(unknown)}; known: {', '.join(COMPONENT_OF)}")


@dataclass
class LoadSettings(SettingsGroup):
    group_name = "load"

    checkpoint: str = setting("", "Checkpoint folder name (from `checkpoints`) or path; empty keeps "
                              "the selected one.", section="Models")
    components: list[str] = setting(["dit"], "What to load: dit, vae, text_encoder, silence_latent "
                                    "(also encoder, decoder, tokenizer).", section="Models")

    def validate(self) -> None:
        _check_components(self.components)


@job_kind("load", LoadSettings, "Select a checkpoint and load model components onto the device.")
def run_load(ctx: Any, settings: LoadSettings) -> dict:
    manager = _manager(ctx.services)
    _gpu_monitor(ctx.services)
    if settings.checkpoint:
        manager.select(settings.checkpoint)
    total = len(settings.components)
    for done, name in enumerate(settings.components):
        ctx.progress(done, total, f"loading {name}")
        manager.load([name])
        ctx.log(f"{name} loaded")
    ctx.progress(total, total, "loaded")
    return {"models": manager.snapshot(), "fingerprint": manager.fingerprint()}


@command("unload", state_changing=True)
def unload(ctx: Any, content: dict) -> dict:
    """Unload components (all by default) and free their memory."""
    names = content.get("components")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise ProtocolError(f"content.components: expected a list of names, got {names!r}")
    if names:
        _check_components(names)
    manager = ctx.services.built("models")
    if manager is None:
        return {"unloaded": [], "models": models_status(ctx.services)}
    unloaded = manager.unload(names or None, timeout=UNLOAD_WAIT_S)
    return {"unloaded": unloaded, "models": manager.snapshot()}


@command("models")
def models(ctx: Any, content: dict) -> dict:
    """The model manager's snapshot (never loads anything)."""
    return models_status(ctx.services)


@command("gpu")
def gpu(ctx: Any, content: dict) -> dict:
    """GPU name, driver, memory and processes, plus the monitor's peak and average."""
    monitor = _gpu_monitor(ctx.services)
    return {**gpu_status(), "monitor": monitor.stats()}
