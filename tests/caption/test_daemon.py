"""Captioning through a real daemon on loopback: the CLI verb, resuming after a kill, a cloud provider
answered by a loopback server, and the commands the Captioner page reviews and accepts through."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from shared.cli import main
from shared.dataset import load_dataset, save_dataset
from shared.dataset_scan import scan_folder
from shared.errors import ProtocolError, StudioError
from tests.caption.fake_cloud import FakeCloud, Reply, gemini_answer


@pytest.fixture
def demo_copy(tmp_path, demo_root):
    """The demo dataset folder (8 clips, lyrics sidecars, dataset.json with a trigger word), copied."""
    folder = tmp_path / "demo"
    shutil.copytree(demo_root / "dataset", folder)
    return folder


def finished_files(folder) -> set[str]:
    found = set()
    for sidecar in folder.rglob("*.json"):
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("acestep_studio_caption", {}).get("done", {}).get("signal"):
            found.add(sidecar.relative_to(folder).with_suffix(".wav").as_posix())
    return found


def run_lines(home, job_id) -> list[str]:
    path = home / "runs" / job_id / "results.jsonl"
    return [json.loads(line)["file"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_killed_batch_restarts_where_it_stopped(daemon_proc, demo_root, demo_copy):
    client = daemon_proc.client
    (demo_copy / "dataset.json").unlink()  # a plain folder of audio
    first = client.submit("caption", {"source": str(demo_copy), "provider": "signal"})
    deadline = time.monotonic() + 120
    while (client.job(first).get("progress") or {}).get("done", 0) < 3:
        assert time.monotonic() < deadline, client.job(first)
        time.sleep(0.05)
    daemon_proc.kill()
    before = finished_files(demo_copy)
    assert 3 <= len(before) < 8, before
    client = daemon_proc.start()
    assert client.job(first)["state"] == "interrupted"
    second = client.submit("caption", {"source": str(demo_copy), "provider": "signal"})
    assert client.wait(second, timeout=120)["state"] == "done"
    assert set(run_lines(daemon_proc.home, second)).isdisjoint(before)  # nothing done twice
    assert finished_files(demo_copy) == {c.file for c in __import__("daemon.dataset_demo").dataset_demo.CLIPS}
    assert client.job(second)["result"]["captioned"] == 8  # the results cover the whole folder


def test_cli_caption_of_a_dataset_with_the_demo_captioner(daemon_proc, demo_root, demo_captioners, clip_folder,
                                                           capsys):
    dataset = scan_folder(clip_folder).dataset
    dataset.options = dataset.options.replace(trigger_word="demotone")
    dataset.find("vocal/march.wav").caption = "the user's caption"
    save_dataset(dataset, clip_folder / "dataset.json")
    code = main(["--home", str(daemon_proc.home), "caption", str(clip_folder / "dataset.json"), "--lyrics",
                 "--overwrite-labels", "--caption-max-tokens", "16", "--lyrics-max-tokens", "16", "--wait"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "their text is noise" in err
    assert "vocal/march.wav" in out and "112.3 BPM, Bb major" in out  # the signal column
    dataset = load_dataset(clip_folder / "dataset.json")
    march = dataset.find("vocal/march.wav")
    assert march.caption != "the user's caption"  # overwritten, as asked; the old file is the .bak
    assert load_dataset(clip_folder / "dataset.json.bak").find("vocal/march.wav").caption == "the user's caption"
    assert march.bpm == 112 and march.keyscale == "Bb major"  # the demo model says nothing: the signal does
    assert dataset.options.trigger_word == "demotone"
    components = daemon_proc.client.request("models")
    assert "captioner" not in json.dumps(components) and "transcriber" not in json.dumps(components)


@pytest.fixture
def gemini_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "key-from-the-daemons-environment")


def test_gemini_through_the_daemon(gemini_key, daemon_proc, demo_root, clip_folder, capsys):
    answers = [Reply(200, gemini_answer({"caption": f"A brass piece number {i}.", "genre": "brass", "key": "Bb",
                                         "time_signature": "2/4", "bpm": 112, "lyrics": "[Instrumental]",
                                         "instrumental": True})) for i in range(2)]
    with FakeCloud(answers) as cloud:
        code = main(["--home", str(daemon_proc.home), "caption", str(clip_folder), "--provider", "gemini",
                     "--lyrics", "--gemini-base-url", cloud.url, "--wait"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(cloud.requests) == 2  # one request a file for caption, metadata and lyrics
    assert all(r.headers["x-goog-api-key"] == "key-from-the-daemons-environment" for r in cloud.requests)
    march = scan_folder(clip_folder).dataset.find("vocal/march.wav")
    assert march.caption.startswith("A brass piece") and march.keyscale == "Bb major" and march.is_instrumental


def test_a_missing_key_fails_the_job_saying_which(daemon_proc, demo_root, clip_folder, monkeypatch, capsys):
    code = main(["--home", str(daemon_proc.home), "caption", str(clip_folder), "--provider", "elevenlabs", "--wait"])
    err = capsys.readouterr().err
    assert code == 1 and "ELEVENLABS_API_KEY" in err and "daemon's environment" in err


def test_review_audio_and_accept_through_commands(daemon_proc, demo_root, demo_copy):
    client = daemon_proc.client
    dataset_file = demo_copy / "dataset.json"
    job = client.submit("caption", {"source": str(dataset_file), "provider": "signal"})
    assert client.wait(job, timeout=120)["state"] == "done"
    results = client.caption_results(job)
    assert {r["file"] for r in results["files"]} == {s.audio for s in load_dataset(dataset_file).samples}
    audio = client.caption_audio(job, "vocal/waltz.wav")
    assert audio == (demo_copy / "vocal" / "waltz.wav").read_bytes()
    with pytest.raises(ProtocolError, match="did not caption"):
        client.caption_audio(job, "../../etc/passwd")
    reply = client.caption_accept(job, {"vocal/waltz.wav": {"caption": "a waltz I described myself", "bpm": "151"}})
    assert reply["dataset"]["updated"] == 1 and reply["sidecars"] == 1
    waltz = load_dataset(dataset_file).find("vocal/waltz.wav")
    assert waltz.caption == "a waltz I described myself" and waltz.bpm == 151
    sidecar = json.loads((demo_copy / "vocal" / "waltz.json").read_text(encoding="utf-8"))
    assert sidecar["caption"] == "a waltz I described myself"
    with pytest.raises(StudioError, match="BPM"):
        client.caption_accept(job, {"vocal/waltz.wav": {"bpm": "fast"}})
