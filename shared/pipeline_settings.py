"""The `pipeline` job's settings, declared once: the Quick start page, the `pipeline` verb and
docs/SETTINGS.md derive from them. No torch here.

    PipelineSettings(folder="songs/", trigger_word="mystyle", provider="signal")

A pipeline runs scan, label, preprocess, train, export and samples as jobs of their own (see
daemon/pipeline/ and docs/PIPELINE.md). A changed setting reruns the stage that reads it and the
ones after it (each stage's inputs are fingerprinted). `preprocess_overrides` and
`train_overrides` reach any setting of those jobs as `key=value`, as the CLI's `--set` does.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.caption_settings import PROVIDERS
from shared.errors import SettingsError
from shared.preprocess_settings import PreprocessSettings
from shared.sample_settings import clip_setting
from shared.settings import SettingsGroup, setting
from shared.train_settings import ADAPTER_TYPES, TrainSettings

# The caption job's providers, signal analysis (no model) first, and "none": the labels as they are.
LABEL_PROVIDERS = ("signal", "none", *(p for p in PROVIDERS if p != "signal"))
AUTO_PRESET = "auto"
PROMPT_SEPARATOR = "|"  # captions hold commas, so several are split on |
STAGES = ("scan", "label", "preprocess", "train", "export", "samples")


@dataclass
class PipelineSettings(SettingsGroup):
    """A folder of songs to a trained, exported adapter with samples, in one job."""

    group_name = "pipeline"

    folder: str = setting("", "The folder of songs (searched recursively). Its dataset.json and sidecar files "
                          "are read and their labels kept; the labels found are saved into its dataset.json.",
                          section="Songs", label="Song folder")
    trigger_word: str = setting("", "The word that calls up the adapter in a prompt; every training prompt gets "
                                "it. Empty: the trigger word the folder's dataset.json has.", section="Songs")
    checkpoint: str = setting("", "DiT checkpoint to train on (name as listed by `checkpoints`); empty: the one "
                              "selected in the daemon.", section="Songs")
    provider: str = setting("signal", "Who labels the songs that lack labels (labels you set are never "
                            "replaced): signal = BPM and key from the audio, no model; local = ACE-Step's "
                            "captioner; gemini, whisper, elevenlabs = cloud services; none = as they are.",
                            section="Songs", choices=LABEL_PROVIDERS, label="Labelling")
    preset: str = setting(AUTO_PRESET, "Training preset; auto: the one that fits the daemon's GPU (the quick "
                          "test without one), said in the log.", section="Training", importance="advanced")
    adapter_type: str = setting("lora", "Adapter to train: LoRA, DoRA, LoKr or LoHa.", section="Training",
                                importance="advanced", choices=ADAPTER_TYPES)
    epochs: int | None = setting(None, "Epochs; empty: advised by the number of songs on a GPU, the preset's own "
                                 "on the CPU (said in the log).", section="Training", importance="advanced",
                                 minimum=1)
    sample_prompts: str = setting("", "Prompts of the samples, separated by |; empty: the first song's training "
                                  "prompt (with the trigger word).", section="Samples", importance="advanced",
                                  label="Sample prompts")
    sample_seconds: float = clip_setting("seconds", default=10.0, section="Samples", importance="advanced",
                                         help="Length of each sample (during training and the final ones).",
                                         label="Sample duration (seconds)")
    sample_seed: int = clip_setting("seed", section="Samples", importance="advanced", label="Sample seed")
    preprocess_overrides: list[str] = setting([], "More preprocessing settings as key=value (e.g. "
                                              "normalize=lufs), as `preprocess --set` takes them.",
                                              section="Expert", importance="expert",
                                              label="Preprocessing settings")
    train_overrides: list[str] = setting([], "More training settings as key=value (e.g. rank=32), applied "
                                         "last, as `train --set` takes them.", section="Expert",
                                         importance="expert", label="Training settings")

    def validate(self) -> None:
        if not self.folder.strip():
            raise self.field_error("folder", "give the folder of your songs")
        if "," in self.trigger_word:
            raise self.field_error("trigger_word", "a word or phrase without commas (prompts are comma-separated)")
        for name, group in (("preprocess_overrides", PreprocessSettings), ("train_overrides", TrainSettings)):
            try:
                group().with_overrides(getattr(self, name))
            except SettingsError as err:
                raise self.field_error(name, str(err)) from None

    def prompts(self) -> list[str]:
        """The sample prompts given, in order (empty: the first song's, chosen by the pipeline)."""
        return [p.strip() for p in self.sample_prompts.split(PROMPT_SEPARATOR) if p.strip()]


@dataclass
class DatasetScanSettings(SettingsGroup):
    """The pipeline's first stage as a job of its own: a folder scanned into its dataset.json."""

    group_name = "dataset_scan"

    folder: str = setting("", "The folder of audio to scan (recursively, sidecars read).", section="Scan",
                          label="Song folder")
    trigger_word: str = setting("", "Trigger word saved into the dataset; empty: the one it has.", section="Scan")

    def validate(self) -> None:
        if not self.folder.strip():
            raise self.field_error("folder", "give the folder of your songs")
