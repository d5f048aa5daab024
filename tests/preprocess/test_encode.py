"""Tiled VAE encoding: windows cover the clip exactly once, and tiles give the latents of one pass."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from daemon.preprocess import encode
from daemon.preprocess.encode import HOP, Tiling, context_latents, vae_encode, vae_encode_batch
from shared.errors import AudioError


@pytest.mark.parametrize("total", [1, 49, 50, 51, 750, 7499])
def test_windows_cover_every_frame_once(total):
    tiling = Tiling(tile_frames=50, overlap_frames=10)
    windows = tiling.windows(total)
    covered = [f for _, _, c0, c1 in windows for f in range(c0, c1)]
    assert covered == list(range(total))
    for w0, w1, c0, c1 in windows:
        assert 0 <= w0 <= c0 < c1 <= w1 <= total and w1 - w0 <= tiling.tile_frames


def test_tiles_match_one_pass(demo_manager, monkeypatch):
    monkeypatch.setattr(encode, "sample_latents", lambda dist, i, gen: dist.mean[i].float().transpose(0, 1).cpu())
    vae = demo_manager.get("vae")
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 30 * HOP - 700)).astype(np.float32)
    whole = vae_encode(vae, audio, Tiling(tile_frames=30, overlap_frames=0))
    tiled = vae_encode(vae, audio, Tiling(tile_frames=20, overlap_frames=6))
    assert whole.shape == tiled.shape == (29, 64)  # the partial 30th frame is dropped
    assert torch.allclose(whole, tiled, atol=1e-3), (whole - tiled).abs().max()


def test_context_latents_tile_a_short_silence_latent():
    silence = torch.arange(3 * 64, dtype=torch.float32).reshape(1, 3, 64)
    ctx = context_latents(silence, 7)
    assert ctx.shape == (7, 128) and torch.equal(ctx[3, :64], silence[0, 0]) and bool((ctx[:, 64:] == 1).all())


def test_a_clip_gets_the_frame_count_of_acestep_preprocessing(demo_manager):
    vae = demo_manager.get("vae")
    rng = np.random.default_rng(1)
    clip = rng.uniform(-0.5, 0.5, (2, 73_000)).astype(np.float32)  # 1.52 s at 48 kHz: 38.02 frames
    alone = vae_encode(vae, clip, Tiling(tile_frames=750, overlap_frames=50), torch.Generator().manual_seed(0))
    assert alone.shape == (38, 64)  # floor(73000 / 1920); padding to a whole frame gave 39
    other = rng.uniform(-0.5, 0.5, (2, 73_000)).astype(np.float32)
    batched = vae_encode_batch(vae, [clip, other], [torch.Generator().manual_seed(0), None])
    assert [b.shape for b in batched] == [(38, 64), (38, 64)]
    assert torch.allclose(batched[0], alone, atol=1e-4)  # batched or alone, the same latents
    with pytest.raises(AudioError, match="shorter than one latent frame"):
        vae_encode(vae, clip[:, :1000], Tiling(tile_frames=750, overlap_frames=50))
