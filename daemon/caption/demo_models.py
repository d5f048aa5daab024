"""The demo captioner and transcriber: tiny Qwen2.5-Omni models in the real folder layout.

`write_demo_captioners(root, seed)` writes `root/acestep-captioner/` and `root/acestep-transcriber/`
as ACE-Step ships them (ACESTEP_INTERFACE.md section 9): a `Qwen2_5OmniForConditionalGeneration`
config (`model_type: "qwen2_5_omni"`, audio output disabled) with a thinker of a few thousand
random parameters, `model.safetensors` (keys `thinker.*`), and the processor files
(`preprocessor_config.json` for the Whisper feature extractor, the Qwen2-VL image and video
processors, a byte-level BPE tokenizer trained here on a small corpus, `chat_template.json`).
Nothing is downloaded. Their weights are random, so what they write is noise; they exist so the
whole path (load, prompt, generate, parse, write) runs on a CPU in seconds. A stamp marks them.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

CAPTIONER_NAME = "acestep-captioner"
TRANSCRIBER_NAME = "acestep-transcriber"
DEMO_STAMP = ".demo_captioner.json"  # inside each folder: says "this model writes noise"
GENERATOR_VERSION = 1
TEXT_HIDDEN = 32
SPECIAL_TOKENS = {
    "pad": "<|endoftext|>", "im_start": "<|im_start|>", "im_end": "<|im_end|>",
    "audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
    "image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
}
SYSTEM_PROMPT = ("You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
                 "auditory and visual inputs, as well as generating text and speech.")
# Qwen2.5-Omni's conversation format: ChatML, an audio item as <|audio_bos|><|AUDIO|><|audio_eos|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif part['type'] == 'image' %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif part['type'] == 'video' %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = """
An upbeat electronic pop track in D minor with a driving beat, bright synth pads and a breathy female vocal.
Key: C major. Time signature: 4/4. Genre: pop, rock, jazz, folk, ambient, techno, hip hop, lo-fi, cinematic.
A gentle folk waltz in three with plucked acoustic guitar, soft piano chords and warm strings at 90 BPM.
# Languages
en
# Lyrics
[Verse] [Chorus] [Bridge] [Intro] [Outro] [Instrumental]
Morning light on the avenue, every colour coming through, rain on the window, tea going cold.
*Task* Describe this audio in detail *Task* Transcribe this audio in detail
system user assistant
"""


def write_demo_captioners(root: Path, seed: int = 0) -> dict:
    """Write both demo models under `root` unless they are there already for this seed."""
    root = Path(root).absolute()
    written = False
    for offset, name in enumerate((CAPTIONER_NAME, TRANSCRIBER_NAME)):
        folder = root / name
        stamp = {"generator_version": GENERATOR_VERSION, "seed": seed + offset, "demo": True,
                 "note": "random weights: this model's text is noise"}
        if _stamp(folder) == stamp and (folder / "model.safetensors").is_file():
            continue
        staging = root / f".{name}-staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            write_tiny_omni(staging, seed + offset)
            (staging / DEMO_STAMP).write_text(json.dumps(stamp), encoding="utf-8")
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        written = True
        log.info("demo %s written to %s", name, folder)
    return {"captioner": str(root / CAPTIONER_NAME), "transcriber": str(root / TRANSCRIBER_NAME), "written": written}


def is_demo_model(folder: str | os.PathLike) -> bool:
    """True for a folder this module wrote (its text is noise)."""
    return _stamp(Path(folder)).get("demo") is True


def _stamp(folder: Path) -> dict:
    try:
        data = json.loads((folder / DEMO_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_tiny_omni(folder: Path, seed: int = 0) -> None:
    """A tiny Qwen2_5OmniForConditionalGeneration (audio output off) and its processor files in `folder`."""
    import torch
    from transformers import Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration

    tokenizer = build_tokenizer()
    config = Qwen2_5OmniConfig(thinker_config=_thinker_config(tokenizer), enable_audio_output=False)
    config.architectures = ["Qwen2_5OmniForConditionalGeneration"]
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = Qwen2_5OmniForConditionalGeneration(config).eval()
    finally:
        torch.random.set_rng_state(state)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    write_processor_files(folder, tokenizer)


def write_processor_files(folder: Path, tokenizer) -> None:
    """The processor's files as Qwen2.5-Omni ships them: one preprocessor_config.json that the Whisper
    feature extractor and the Qwen2-VL image processor both read, the tokenizer, chat_template.json.
    (Written piece by piece: saving the processor whole needs its video processor, which needs
    torchvision, which this project does not install.)"""
    from transformers import Qwen2VLImageProcessor, WhisperFeatureExtractor

    features = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=300,
                                       n_fft=400, padding_side="right", return_attention_mask=True)
    merged = {**Qwen2VLImageProcessor().to_dict(), **features.to_dict(), "processor_class": "Qwen2_5OmniProcessor"}
    merged.pop("mel_filters", None)  # recomputed from the sizes on load
    (folder / "preprocessor_config.json").write_text(json.dumps(merged, indent=2), encoding="utf-8")
    tokenizer.save_pretrained(folder)
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2),
                                               encoding="utf-8")


def _thinker_config(tokenizer) -> dict:
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in SPECIAL_TOKENS.items()}
    heads = 4
    return {
        "audio_config": {"num_mel_bins": 128, "encoder_layers": 1, "encoder_attention_heads": 2,
                         "encoder_ffn_dim": 32, "d_model": 16, "output_dim": TEXT_HIDDEN, "n_window": 100,
                         "max_source_positions": 1500},
        "vision_config": {"depth": 1, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2,
                          "out_hidden_size": TEXT_HIDDEN, "fullatt_block_indexes": [0]},
        "text_config": {"vocab_size": len(tokenizer), "hidden_size": TEXT_HIDDEN, "intermediate_size": 64,
                        "num_hidden_layers": 2, "num_attention_heads": heads, "num_key_value_heads": 2,
                        "max_position_embeddings": 32768,
                        # mrope sections (time, height, width) add up to half the head size
                        "rope_scaling": {"mrope_section": [2, 1, 1], "rope_type": "default", "type": "default"},
                        "pad_token_id": ids["pad"], "eos_token_id": ids["im_end"]},
        "audio_token_index": ids["audio_token"], "image_token_index": ids["image_token"],
        "video_token_index": ids["video_token"], "audio_start_token_id": ids["audio_bos_token"],
        "audio_end_token_id": ids["audio_eos_token"], "vision_start_token_id": ids["vision_bos_token"],
        "vision_end_token_id": ids["vision_eos_token"], "pad_token_id": ids["pad"],
        "user_token_id": tokenizer.convert_tokens_to_ids("user"),
    }


def build_tokenizer():
    """A byte-level BPE (Qwen2TokenizerFast) trained on a small corpus, with Qwen2.5-Omni's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    specials = list(SPECIAL_TOKENS.values())
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([line for line in _CORPUS.splitlines() if line.strip()] * 4, trainer=trainer)
    extra = {name: token for name, token in SPECIAL_TOKENS.items() if name.endswith("_token")}
    return Qwen2TokenizerFast(tokenizer_object=tokenizer, eos_token=SPECIAL_TOKENS["im_end"],
                              pad_token=SPECIAL_TOKENS["pad"], unk_token=None, bos_token=None,
                              extra_special_tokens=extra, model_max_length=32768)
