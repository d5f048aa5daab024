"""Models: the demo checkpoint, discovery, the loader, the lazy/offloading manager and GPU status.

    acestep_demo/       the demo DiT's two source files (copied next to its weights, remote code)
    demo_checkpoint.py  write_demo_checkpoint / ensure_demo_checkpoint (+ demo_text_encoder.py)
    discovery.py        checkpoint roots and DiT folders (no torch)
    checkpoint_files.py folder checks naming the broken file, model_fingerprint (no torch)
    device.py           device, dtype and attention implementation choice
    loader.py           load_dit / load_vae / load_text_encoder / load_silence_latent, as ACE-Step does
    components.py       component and movable-unit names (no torch)
    manager.py          ModelManager, the service "models"; manager_from(services)
    gpu.py              gpu_status, vram_check, GpuMonitor (the service "gpu"; no torch)
    commands.py         checkpoints / unload / models / gpu commands and the `load` job

Nothing here imports torch at package import; each module imports what it needs.
"""
