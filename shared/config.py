"""The daemon's own settings: where it listens and where it finds models.

Given on `run_daemon.py`'s command line (flags derived from these declarations) and kept in the
services as "config" for commands and jobs to read.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.settings import SettingsGroup, setting


@dataclass
class DaemonSettings(SettingsGroup):
    group_name = "daemon"

    host: str = setting("127.0.0.1", "Address to bind. Anything but loopback needs --allow-remote.",
                        section="Network", importance="advanced")
    request_port: int = setting(0, "Port of the request (ROUTER) socket; 0 picks a free one.",
                                section="Network", importance="advanced", minimum=0, maximum=65535)
    event_port: int = setting(0, "Port of the event (PUB) socket; 0 picks a free one.",
                              section="Network", importance="advanced", minimum=0, maximum=65535)
    allow_remote: bool = setting(False, "Allow binding beyond loopback (prints a warning).",
                                 section="Network", importance="expert")
    encrypt: bool = setting(True, "Encrypt both sockets with ZeroMQ CURVE, the key in the 0600 connection file "
                            "(required with --allow-remote).", section="Network", importance="expert")
    max_message_bytes: int = setting(16 * 1024 * 1024, "Largest request accepted, in bytes.",
                                     section="Network", importance="expert", minimum=1024)
    switch_interval_ms: float = setting(
        0.5, "How long a running job may hold Python's interpreter lock while a request waits for it "
        "(sys.setswitchinterval; Python's default is 5). Lower answers faster while a job runs.",
        section="Network", importance="expert", minimum=0.05, maximum=100.0)
    job_nice: int = setting(
        15, "Nice levels below the threads that answer requests at which jobs run (Linux): a job that "
        "keeps every core busy then delays no answer (0 = the same priority).",
        section="Network", importance="expert", minimum=0, maximum=19)
    request_slice_us: float = setting(
        100.0, "Scheduler time slice the threads that answer requests ask for (Linux 6.12 or newer; "
        "older kernels ignore it): with a slice shorter than a job's, a request that arrives preempts "
        "the job's threads at once instead of waiting up to a scheduler tick (0 = the kernel's default).",
        section="Network", importance="expert", minimum=0.0, maximum=100_000.0)
    job_slice_ms: float = setting(
        10.0, "Scheduler time slice jobs ask for (Linux 6.12 or newer): long, so that they switch among "
        "themselves less and a request's threads always come first (0 = the kernel's default).",
        section="Network", importance="expert", minimum=0.0, maximum=100.0)
    log_max_bytes: int = setting(5 * 2**20, "Size at which daemon.log is rotated (3 older files are kept).",
                                 section="Logging", importance="expert", minimum=4096)
    owner_pid: int | None = setting(
        None, "Stop gracefully (the running job saves first) when this process exits. The dashboard sets "
        "it to itself when it starts the daemon; a daemon started on its own has none.",
        section="Lifecycle", importance="expert", minimum=1)
    checkpoint_roots: list[str] = setting(["./checkpoints"], "Folders searched for ACE-Step checkpoints.",
                                          section="Models")
    demo_root: str = setting("./demo_assets", "Where the demo checkpoint and demo dataset live.",
                             section="Models", importance="advanced")
    device: str = setting("auto", "Device for models: auto, cpu, cuda, cuda:N, mps, xpu.", section="Models")
    dtype: str = setting("auto", "Model dtype: auto (bf16 on Ampere+, fp16 older CUDA/MPS, fp32 CPU).",
                         section="Models", choices=("auto", "float32", "bfloat16", "float16"))
    offload: bool = setting(False, "Move the VAE, text encoder and condition encoder to CPU between uses.",
                            section="Models")
    gpu_alert_percent: float = setting(92.0, "GPU memory use (percent) that raises an alert event.",
                                       section="GPU", minimum=1, maximum=100)
    gpu_poll_seconds: float = setting(2.0, "How often the GPU monitor samples.", section="GPU",
                                      importance="advanced", minimum=0.1)
