"""Every preprocessing setting, declared once (the `preprocess` job, its CLI flags and its page).

The job writes all of them into the tensor folder's manifest, so a folder says how it was made.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.errors import SettingsError
from shared.settings import SettingsGroup, setting

NORMALIZE_MODES = ("none", "peak", "lufs", "peak_lufs")
LONG_CLIP_MODES = ("cut", "keep")


@dataclass
class PreprocessSettings(SettingsGroup):
    """Audio and labels to training tensors (ACESTEP_INTERFACE.md section 4)."""

    group_name = "preprocess"

    dataset: str = setting("", "The dataset JSON file to preprocess.", section="Input and output",
                           label="Dataset file")
    output_dir: str = setting("", "Folder the tensors and manifest.json are written to (created if missing).",
                              section="Input and output", label="Output folder")
    checkpoint: str | None = setting(None, "DiT checkpoint (folder name) whose encoders make the tensors; "
                                     "none uses the daemon's current one.", section="Input and output")
    normalize: str = setting("none", "Loudness normalisation: none, peak (to the peak level), lufs (to the "
                             "target loudness, ITU-R BS.1770) or peak_lufs (peak, then LUFS).",
                             section="Audio", choices=NORMALIZE_MODES)
    target_lufs: float = setting(-14.0, "Target integrated loudness for lufs and peak_lufs.", section="Audio",
                                 minimum=-40.0, maximum=-5.0, label="Target LUFS")
    peak_dbfs: float = setting(-1.0, "Peak level for peak mode, and the ceiling that clip-protects LUFS gain.",
                               section="Audio", minimum=-20.0, maximum=0.0, label="Peak dBFS")
    max_duration: float = setting(240.0, "Longest audio (seconds) encoded; see long clips.", section="Audio",
                                  minimum=1.0, maximum=3600.0, label="Max duration (s)")
    min_duration: float = setting(1.0, "Shortest audio (seconds) encoded: a shorter clip is refused with the "
                                  "reason (a few frames teach nothing and destabilise training).",
                                  section="Audio", minimum=0.1, maximum=600.0, label="Min duration (s)")
    long_clips: str = setting("cut", "Audio longer than max duration: cut it there, or keep it whole for "
                              "random-crop training.", section="Audio", choices=LONG_CLIP_MODES)
    two_pass: bool = setting(False, "Low-VRAM mode: pass 1 runs the VAE and text encoder, pass 2 the condition "
                             "encoder, with pass-1 models moved off the GPU in between.", section="Memory",
                             label="Two-pass low-VRAM mode")
    tile_seconds: float = setting(30.0, "VAE-encode audio longer than this in tiles of this length (memory "
                                  "stays flat with duration).", section="Memory", importance="advanced",
                                  minimum=2.0, maximum=600.0)
    tile_overlap: float = setting(2.0, "Seconds of context each tile shares with its neighbours (discarded).",
                                  section="Memory", importance="advanced", minimum=0.0, maximum=30.0)
    workers: int = setting(2, "CPU threads decoding and resampling ahead of the model.", section="Speed",
                           importance="advanced", minimum=1, maximum=32)
    batch_size: int | None = setting(None, "Clips of one length (e.g. split segments) VAE-encoded together; "
                                     "none: 4 on a GPU, 1 on the CPU (no gain there).", section="Speed",
                                     importance="advanced", minimum=1, maximum=64)
    prefetch: int = setting(4, "Decoded clips kept ready ahead of the model.", section="Speed",
                            importance="advanced", minimum=1, maximum=64)
    max_text_tokens: int = setting(256, "Token limit of the text prompt.", section="Text",
                                   importance="expert", minimum=16, maximum=4096)
    max_lyric_tokens: int = setting(2048, "Token limit of the lyrics prompt.", section="Text",
                                    importance="expert", minimum=16, maximum=8192)
    overwrite: bool = setting(False, "Encode samples again even when their tensor file exists (otherwise a "
                              "rerun resumes and skips them).", section="Input and output",
                              importance="advanced")

    def validate(self) -> None:
        if self.min_duration > self.max_duration:
            raise SettingsError(f"preprocess.min_duration: {self.min_duration} s is longer than "
                                f"preprocess.max_duration ({self.max_duration} s)")
        if self.tile_overlap * 2 >= self.tile_seconds:
            raise SettingsError(
                f"preprocess.tile_overlap: {self.tile_overlap} s on each side leaves nothing of a "
                f"{self.tile_seconds} s tile; use less than {self.tile_seconds / 2} s"
            )

    def require_paths(self) -> None:
        """The job needs both paths; a form may hold blanks until the user fills them in."""
        for name in ("dataset", "output_dir"):
            if not getattr(self, name).strip():
                raise self.field_error(name, "a path is required")
