"""Settings of the `split_audio` job (daemon/dataset_jobs.py), declared once for the CLI and the page."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.errors import SettingsError
from shared.settings import SettingsGroup, setting

SEGMENT_CHOICES = (30.0, 60.0)


@dataclass
class SplitAudioSettings(SettingsGroup):
    """Where to read, where to write, and how long each segment is."""

    group_name = "split_audio"

    input_dir: str = setting("", "Folder of audio to split (searched recursively).", section="Split")
    output_dir: str = setting("", "Folder the segments are written to; subfolders are mirrored.",
                              section="Split")
    segment_seconds: float = setting(30.0, "Length of each segment in seconds (30 or 60 are usual).",
                                     section="Split", minimum=1.0, maximum=3600.0)
    min_segment_seconds: float = setting(1.0, "A last piece shorter than this is dropped.",
                                         section="Split", importance="advanced", minimum=0.0)
    output_format: str = setting("flac", "Format of the segments (lossless either way).", section="Split",
                                 choices=("flac", "wav"))
    overwrite: bool = setting(False, "Write segments again when they already exist.", section="Split",
                              importance="advanced")

    def validate(self) -> None:
        if not self.input_dir.strip():
            raise SettingsError("split_audio.input_dir: a folder of audio is required")
        if not self.output_dir.strip():
            raise SettingsError("split_audio.output_dir: an output folder is required")
        if Path(self.input_dir).absolute() == Path(self.output_dir).absolute():
            raise SettingsError("split_audio.output_dir: must differ from input_dir (originals stay untouched)")
