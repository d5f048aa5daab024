"""The `generate` job through a real daemon and the command line (SM-3): the verb prints the file
it wrote, the same seed gives the same clip, clips of an adapter inside a run land in that run's
samples, and clients read them back through `run_samples` / `run_file` (never from disk)."""
from __future__ import annotations

import shutil

import pytest

from shared.cli import main
from shared.errors import ProtocolError

from .conftest import read_audio


def _generate(home, capsys, *args: str) -> list[str]:
    code = main(["--home", str(home), "--timeout", "30", "generate", "--prompt", "sks, lofi beat", "--seconds", "2",
                 "--format", "wav", *args, "--wait"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out.split()


def test_generate_prints_its_files_is_seeded_and_lands_in_the_adapters_run(daemon_proc, demo_root, lora_folder,
                                                                          capsys):
    home, client = daemon_proc.home, daemon_proc.client
    run = home / "runs" / "20250101-000000-train-abc123"
    shutil.copytree(lora_folder, run / "final")

    first = _generate(home, capsys, "--adapter", str(run / "final"), "--strength", "1.0", "--seed", "1")
    again = _generate(home, capsys, "--adapter", str(run / "final"), "--strength", "1.0", "--seed", "1")
    other = _generate(home, capsys, "--adapter", str(run / "final"), "--strength", "1.0", "--seed", "2")

    assert len(first) == 1 and first[0].startswith(str(run / "samples" / "generated"))
    audio = read_audio(first[0])
    assert audio.shape == (128 * 1920, 2)  # 2 s asked, 128 frames at least: 5.12 s stereo
    assert (read_audio(again[0]) == audio).all()
    assert not (read_audio(other[0]) == audio).all()

    clips = client.run_samples(run.name)
    assert [c["seed"] for c in clips] == [1, 1, 2]
    assert {c["adapter_label"] for c in clips} == {"final"} and {c["strength"] for c in clips} == {1.0}
    assert client.run_file(run.name, clips[0]["audio"]) == (run / clips[0]["audio"]).read_bytes()
    assert client.run_file(run.name, clips[0]["spectrogram"]).startswith(b"\x89PNG")


def test_run_file_refuses_paths_outside_the_run(daemon_proc):
    run = daemon_proc.home / "runs" / "20250101-000000-train-abc123"
    run.mkdir(parents=True)
    (daemon_proc.home / "secret.txt").write_text("no")
    for path in ("../../secret.txt", "/etc/passwd", "."):
        with pytest.raises(ProtocolError, match="outside the run folder|no file"):
            daemon_proc.client.run_file(run.name, path)
    with pytest.raises(ProtocolError, match="run id"):
        daemon_proc.client.run_samples("../x")


def test_generate_without_a_prompt_fails_with_a_clear_error(daemon_proc, demo_root, capsys):
    code = main(["--home", str(daemon_proc.home), "generate", "--seconds", "2", "--wait"])
    assert code == 1
    assert "describe the music" in capsys.readouterr().err
