"""The `lm` provider's whole path on the demo checkpoint: audio -> 5 Hz codes (the DiT's own tokenizer) ->
the demo 5 Hz LM under the grammar -> fields written into a dataset, the user's own labels kept, the batch's
language for samples with vocals, the LM's lyrics only when asked and marked as its own."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from daemon.caption import batch
from daemon.caption.lm import LYRICS_NOTE
from daemon.caption.lm_codes import audio_codes, pad_to_patches
from daemon.caption.lm_model import UnderstandOptions, load_lm, read_genres
from daemon.caption.sidecar import read_block
from daemon.models.demo_lm import GENRES
from daemon.models.discovery import find_lm
from shared.caption_settings import CaptionSettings
from shared.dataset import load_dataset, save_dataset
from shared.dataset_scan import scan_folder
from shared.errors import CheckpointError, SettingsError
from shared.labels import KEYSCALES, LANGUAGES, TIME_SIGNATURES
from tests.conftest import job_context

QUICK = {"provider": "lm", "caption_max_tokens": 16, "lyrics_max_tokens": 16}  # the demo LM writes noise: keep it short


@pytest.fixture(scope="module")
def lm_manager(demo_root, tmp_path_factory):
    """A model manager on the demo checkpoint (DiT, VAE and LM load once for the module)."""
    from daemon.models.manager import ModelManager
    from shared.config import DaemonSettings

    manager = ModelManager(DaemonSettings(checkpoint_roots=[str(demo_root / "checkpoints")], device="cpu",
                                          demo_root=str(demo_root)),  # not the ./demo_assets of `make run`
                           home=tmp_path_factory.mktemp("lm-home"))
    yield manager
    manager.close()


def write_clip(path, seconds: float, seed: int) -> None:
    """Noise with a pulse: short, so the VAE (the slow part on a CPU) has little to encode."""
    rng = np.random.default_rng(seed)
    frames = int(48000 * seconds)
    audio = rng.standard_normal((frames, 2)) * 0.05
    audio[:: 48000 // 4] += 0.8  # a click every quarter second
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.astype(np.float32), 48000)


@pytest.fixture
def songs(tmp_path):
    """A dataset of three 1-second clips: new.wav unlabelled, mine.wav with a caption, key and language the
    user set, drums.wav marked instrumental by the user."""
    folder = tmp_path / "songs"
    for seed, name in enumerate(("new.wav", "mine.wav", "drums.wav")):
        write_clip(folder / name, 1.0, seed)
    dataset = scan_folder(folder).dataset
    mine = dataset.find("mine.wav")
    mine.caption, mine.keyscale, mine.language = "my own words for this one", "D minor", "es"
    dataset.find("drums.wav").is_instrumental = True
    save_dataset(dataset, folder / "dataset.json")
    return folder / "dataset.json"


def run(manager, tmp_path, name="run", **values):
    settings = CaptionSettings(**{**QUICK, **values})
    return batch.run_caption(job_context(manager, tmp_path / name, "caption", settings), settings)


@pytest.mark.slow
def test_the_lm_labels_a_folder_with_values_the_dataset_takes(lm_manager, tmp_path):
    write_clip(tmp_path / "folder" / "one.wav", 1.0, 7)
    result = run(lm_manager, tmp_path, source=str(tmp_path / "folder"))
    assert result["captioned"] == 1 and result["demo"] and not result["failed"]
    sample = scan_folder(tmp_path / "folder").dataset.find("one.wav")  # what the sidecar says
    assert sample.caption and 30 <= sample.bpm <= 300 and sample.timesignature in TIME_SIGNATURES
    assert sample.keyscale in KEYSCALES and sample.language in LANGUAGES and sample.genre in GENRES
    assert not sample.lyrics  # lyrics were not asked for
    block = read_block(tmp_path / "folder" / "one.wav")
    assert block["done"] == {"caption": "lm"} and block["caption"]["model"] == "acestep-5Hz-lm-demo"
    assert "lm" not in lm_manager.snapshot()["components"]  # the LM's memory is freed after the batch


@pytest.mark.slow
def test_a_dataset_keeps_the_users_labels_takes_the_batch_language_and_the_lms_lyrics(lm_manager, songs, tmp_path):
    result = run(lm_manager, tmp_path, source=str(songs), language="ja", lyrics=True, lyrics_provider="lm",
                 keep_loaded=True)
    assert result["captioned"] == 3 and result["dataset"]["updated"] == 3
    dataset = load_dataset(songs)
    new, mine, drums = (dataset.find(name) for name in ("new.wav", "mine.wav", "drums.wav"))
    assert new.caption and new.bpm and new.language == "ja" and new.lyrics  # filled; the LM named no other language
    assert (mine.caption, mine.keyscale, mine.language) == ("my own words for this one", "D minor", "es")
    assert mine.bpm and mine.genre in GENRES  # the user's empty fields are filled
    assert drums.is_instrumental and not drums.lyrics and drums.language == "unknown"  # no vocals: no language
    assert result["kept"] >= 3
    notes = {n["file"] for n in result["notes"] if n["note"].endswith(LYRICS_NOTE)}
    assert "new.wav" in notes  # the summary says who wrote the lyrics
    block = read_block(songs.parent / "new.wav")
    assert block["lyrics"]["provider"] == "lm" and LYRICS_NOTE in block["lyrics"]["note"]
    assert "lm" in lm_manager.snapshot()["components"]  # keep_loaded
    lm_manager.unload(["lm"])


def test_the_lm_lyrics_only_by_name():
    assert CaptionSettings(source="x", provider="lm", lyrics=True).lyrics_by() == "local"  # auto: a real transcriber
    assert CaptionSettings(source="x", provider="lm", lyrics=True, lyrics_provider="lm").lyrics_by() == "lm"
    with pytest.raises(SettingsError, match="language code"):
        CaptionSettings.from_dict({"source": "x", "language": "japanese"})


def test_codes_come_from_the_dits_tokenizer_five_per_second(lm_manager, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "odd.wav"
    sf.write(path, (rng.standard_normal((int(48000 * 1.1), 2)) * 0.1).astype(np.float32), 48000)  # 27.5 frames
    codes, duration = audio_codes(lm_manager, path)
    assert len(codes) == 6 and all(0 <= c < 64000 for c in codes) and duration == pytest.approx(1.1)
    assert audio_codes(lm_manager, path)[0] == codes  # the same file gives the same codes
    silence = torch.arange(10 * 64, dtype=torch.float32).reshape(10, 64)
    patches = pad_to_patches(torch.zeros(77, 64), silence)
    assert patches.shape == (16, 5, 64) and torch.equal(patches[-1, 2:], silence[:3])


def test_a_song_longer_than_the_context_is_cut_and_says_so(demo_root):
    lm = load_lm(demo_root / "checkpoints" / "acestep-5Hz-lm-demo", torch.device("cpu"), torch.float32)
    options = UnderstandOptions(context=400, caption_tokens=16)  # room for 400 - 64 - 176 = 160 codes (32 s)
    reply = lm.understand(list(range(1000)), options)
    assert len(reply.fitted.codes) == 160 and reply.fitted.note().startswith("the LM heard the first 32 s of 200 s")
    assert reply.found.complete and reply.found.bpm is not None


def test_the_lm_is_found_beside_the_checkpoint(demo_root, tmp_path):
    checkpoints = demo_root / "checkpoints"
    assert find_lm("auto", [], beside=str(checkpoints)).name == "acestep-5Hz-lm-demo"
    assert find_lm("acestep-5Hz-lm-demo", [str(demo_root)]).parent == checkpoints  # a root's checkpoints/
    for name in ("acestep-5Hz-lm-0.6B", "acestep-5Hz-lm-1.7B"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    assert find_lm("auto", [str(tmp_path)]).name == "acestep-5Hz-lm-1.7B"  # ACE-Step's default first
    with pytest.raises(CheckpointError, match="no 5 Hz LM named 'acestep-5Hz-lm-4B'"):
        find_lm("acestep-5Hz-lm-4B", [str(tmp_path)])
    with pytest.raises(CheckpointError, match="acestep-5Hz-lm-1.7B"):
        find_lm("auto", [str(tmp_path / "nothing")])


def test_a_folder_without_code_tokens_is_refused_by_name(demo_root):
    folder = demo_root / "checkpoints" / "Qwen3-Embedding-0.6B"
    with pytest.raises(CheckpointError, match="no audio-code tokens"):
        load_lm(folder, torch.device("cpu"), torch.float32)
    assert json.loads((folder / "config.json").read_text())["model_type"] == "qwen3"


def test_the_genre_vocabulary_beside_the_lm_or_in_an_acestep_install(tmp_path):
    lm = tmp_path / "ACE-Step-1.5" / "checkpoints" / "acestep-5Hz-lm-1.7B"
    lm.mkdir(parents=True)
    assert read_genres(lm) == ()  # none: the LM writes no genres field
    (tmp_path / "ACE-Step-1.5" / "acestep").mkdir()
    (tmp_path / "ACE-Step-1.5" / "acestep" / "genres_vocab.txt").write_text("pop\nrock\n\npop\n# note\n")
    assert read_genres(lm) == ("pop", "rock")
    (lm / "genres_vocab.txt").write_text("jazz\n")
    assert read_genres(lm) == ("jazz",)  # the LM's own first
