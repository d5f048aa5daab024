"""Merge and export as jobs through a real daemon and the command line: they print what they wrote,
the merged checkpoint is listed by the daemon, and nothing already there is ever replaced."""
from __future__ import annotations

import shutil
from pathlib import Path

from shared.cli import main

from .test_merge_export import checkpoint_root


def _cli(home, capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["--home", str(home), "--timeout", "30", *args, "--wait"])
    out = capsys.readouterr()
    return code, out.out.split(), out.err


def test_export_comfyui_and_copy_never_replace_anything(daemon_proc, demo_root, lora_folder, tmp_path, capsys):
    home = daemon_proc.home
    run = home / "runs" / "20250101-000000-train-abc123"
    shutil.copytree(lora_folder, run / "final")

    code, files, err = _cli(home, capsys, "export", "--adapter", str(run / "final"))
    assert code == 0, err
    assert files == [str(run / "exports" / f"{run.name}-final_comfyui.safetensors")]
    first = Path(files[0]).read_bytes()
    code, _, err = _cli(home, capsys, "export", "--adapter", str(run / "final"))
    assert code == 1 and "already exists" in err
    assert Path(files[0]).read_bytes() == first

    mine = tmp_path / "my-loras"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, copied, err = _cli(home, capsys, "export", "--adapter", str(run / "final"), "--format", "copy",
                             "--output", str(mine))
    assert code == 0, err
    assert sorted(Path(p).name for p in copied) == ["adapter_config.json", "adapter_model.safetensors"]
    assert (mine / "adapter_model.safetensors").read_bytes() == (lora_folder / "adapter_model.safetensors").read_bytes()
    code, _, err = _cli(home, capsys, "export", "--adapter", str(run / "final"), "--format", "copy",
                        "--output", str(mine))
    assert code == 1 and "already there" in err
    assert sorted(p.name for p in mine.iterdir()) == ["adapter_config.json", "adapter_model.safetensors",
                                                      "notes.txt"]
    assert (mine / "notes.txt").read_text() == "keep me"


def test_merge_job_writes_a_checkpoint_the_daemon_lists(daemon_proc, demo_root, dit_dir, lokr_folder, tmp_path,
                                                       capsys):
    root = checkpoint_root(dit_dir, tmp_path / "checkpoints")
    code, files, err = _cli(daemon_proc.home, capsys, "merge", "--adapter", str(lokr_folder), "--strength", "1.5",
                            "--checkpoints-dir", str(root))
    assert code == 0, err
    assert files == [str(root / "acestep-v15-merged-lokr-s1.5")]
    reply = daemon_proc.client.request("checkpoints", {"add_root": str(root)})
    listed = {c["name"]: c for c in reply["checkpoints"]}
    name = Path(files[0]).name
    assert name in listed and listed[name]["vae"] and listed[name]["text_encoder"]
