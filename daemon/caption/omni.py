"""ACE-Step's captioner and transcriber: Qwen2.5-Omni fine-tunes, loaded and run with transformers.

    folder = find_omni_model("acestep-captioner", roots)        # a folder under the roots, a path, or a hub id
    omni = load_omni(folder, device, dtype)                       # the thinker (text out) and its processor
    text = omni.generate(audio_16k, CAPTION_PROMPT, max_new_tokens=512, sample=True)

ACESTEP_INTERFACE.md section 9: `Qwen2_5OmniProcessor` with the thinker alone
(`Qwen2_5OmniThinkerForConditionalGeneration`, whose weights are the checkpoint's `thinker.*`:
no talker, no speech output, half the memory); 16 kHz mono audio first in the user turn, then
the task text; only the new tokens are decoded. The processor is loaded whole when torchvision
is installed; without it (transformers' video processor needs it, and captioning never sees
video) it is assembled from the same files with a stand-in for the video part.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from daemon.caption.demo_models import SYSTEM_PROMPT, is_demo_model
from daemon.models.device import attention_candidates
from shared.errors import CheckpointError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
CAPTION_TASK = "*Task* Describe this audio in detail"
TRANSCRIBE_TASK = "*Task* Transcribe this audio in detail"
# One pass gives caption and metadata: the task the captioner was tuned on, then the lines we parse.
CAPTION_PROMPT = (CAPTION_TASK + ". After the description, write its key, time signature, tempo and genre on "
                  "lines of their own: 'Key: ...', 'Time signature: ...', 'BPM: ...', 'Genre: ...'.")
OMNI_TYPES = ("qwen2_5_omni", "qwen2_5_omni_thinker")


@dataclass
class OmniModel:
    """A loaded captioner or transcriber: the thinker, its processor and where it came from."""

    model: Any
    processor: Any
    source: str
    demo: bool  # random weights: the text is noise

    def generate(self, audio: np.ndarray, task: str, *, max_new_tokens: int, sample: bool,
                 temperature: float = 0.7, top_p: float = 0.9, repetition_penalty: float = 1.0) -> str:
        """The model's answer to `task` about `audio` (16 kHz mono float), new tokens only."""
        conversation = [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
            {"role": "user", "content": [{"type": "audio", "audio": "clip"}, {"type": "text", "text": task}]},
        ]
        text = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        # Features are padded to whole seconds, not to the extractor's 300 s: the audio encoder reads
        # only the frames the attention mask marks, and a 5 s clip no longer costs a 300 s STFT.
        limit = getattr(self.processor.feature_extractor, "n_samples", len(audio))
        padded = min(limit, int(np.ceil(max(len(audio), 1) / SAMPLE_RATE)) * SAMPLE_RATE)
        inputs = self.processor(text=text, audio=[np.asarray(audio, dtype=np.float32)], sampling_rate=SAMPLE_RATE,
                                audio_kwargs={"max_length": padded}, return_tensors="pt", padding=True)
        device = next(self.model.parameters()).device
        inputs = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in inputs.items()}
        if "input_features" in inputs:
            inputs["input_features"] = inputs["input_features"].to(self.model.dtype)
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": sample,
                                   "repetition_penalty": repetition_penalty}
        if sample:
            options.update(temperature=max(temperature, 1e-3), top_p=top_p)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **options)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        answer = self.processor.batch_decode(new_tokens, skip_special_tokens=True,
                                             clean_up_tokenization_spaces=False)[0]
        del inputs, output, new_tokens
        return answer.strip()


def find_omni_model(name: str, roots: list[str]) -> str:
    """A folder path for `name`: itself when it is a folder, `<root>/<name>` or
    `<root>/checkpoints/<name>` for the first root that has it, else `name` as a Hugging Face id
    ("org/model"). CheckpointError saying where it looked otherwise."""
    candidate = Path(os.path.expanduser(name))
    if candidate.is_dir():
        _check_folder(candidate)
        return str(candidate.absolute())
    if candidate.is_absolute() or name.startswith((".", "~")):
        raise CheckpointError(f"{candidate}: no such model folder")
    for root in roots:
        for folder in (Path(root) / name, Path(root) / "checkpoints" / name):
            if (folder / "config.json").is_file():
                _check_folder(folder)
                return str(folder.absolute())
    if name.count("/") == 1:
        return name  # a hub id: transformers fetches it when the daemon is online
    where = ", ".join(roots) or "no checkpoint roots"
    raise CheckpointError(f"no model folder named {name!r} in {where}; put ACE-Step's {name} there, give its "
                          "folder, or a Hugging Face id such as ACE-Step/acestep-captioner")


def _check_folder(folder: Path) -> None:
    config = folder / "config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except FileNotFoundError:
        raise CheckpointError(f"{config}: missing (not a model folder)") from None
    except (OSError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{config}: unreadable ({err})") from None
    if model_type not in OMNI_TYPES:
        raise CheckpointError(f"{folder}: a {model_type!r} model, not a Qwen2.5-Omni captioner or transcriber "
                              f"(config.json model_type should be one of {', '.join(OMNI_TYPES)})")


def load_omni(source: str, device: torch.device, dtype: torch.dtype) -> OmniModel:
    """The thinker of a Qwen2.5-Omni checkpoint on `device` in eval mode, with its processor."""
    from transformers import AutoConfig, Qwen2_5OmniThinkerForConditionalGeneration

    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{source}: cannot read the model's config ({err})") from None
    thinker_config = getattr(config, "thinker_config", config)
    errors = []
    for attn in attention_candidates(device):
        try:
            model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(
                source, config=thinker_config, dtype=dtype, attn_implementation=attn)
            break
        except (OSError, ValueError, ImportError, RuntimeError) as err:
            log.warning("loading %s with attn_implementation=%s failed: %s", source, attn, err)
            errors.append(f"{attn}: {type(err).__name__}: {err}")
    else:
        raise CheckpointError(f"{source}: the model could not be loaded ({'; '.join(errors)})")
    model.to(device).eval().requires_grad_(False)
    processor = load_processor(source)
    log.info("loaded %s (%s, %s, attention %s)", source, device, dtype, attn)
    return OmniModel(model, processor, source, demo=is_demo_model(source))


def load_processor(source: str) -> Any:
    """Qwen2_5OmniProcessor for `source`, assembled from its files when torchvision is missing."""
    from transformers import Qwen2_5OmniProcessor
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        return Qwen2_5OmniProcessor.from_pretrained(source)
    from transformers import AutoTokenizer, Qwen2VLImageProcessor, WhisperFeatureExtractor

    class AudioTextProcessor(Qwen2_5OmniProcessor):
        """Qwen2_5OmniProcessor with a stand-in for the video processor (see the module docstring)."""

        def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
            if argument_name == "video_processor":
                return type(argument)
            return super().check_argument_for_proper_class(argument_name, argument)

    try:
        return AudioTextProcessor(
            image_processor=Qwen2VLImageProcessor.from_pretrained(source),
            video_processor=NoVideo(),
            feature_extractor=WhisperFeatureExtractor.from_pretrained(source),
            tokenizer=AutoTokenizer.from_pretrained(source),
            chat_template=_chat_template(source),
        )
    except (OSError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{source}: the processor files cannot be read ({err})") from None


class NoVideo:
    """Stands in for the video processor: captioning sends audio and text only."""

    merge_size = 2
    temporal_patch_size = 2

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise CheckpointError("video input needs torchvision, which is not installed")


def _chat_template(source: str) -> str | None:
    from transformers.utils import cached_file

    for name in ("chat_template.json", "chat_template.jinja"):
        path = cached_file(source, name, _raise_exceptions_for_missing_entries=False)
        if path:
            text = Path(path).read_text(encoding="utf-8")
            return json.loads(text)["chat_template"] if name.endswith(".json") else text
    return None  # the tokenizer's own template is used
