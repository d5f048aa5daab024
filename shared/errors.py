"""Typed errors that carry what a user needs to fix the problem.

Every error has a short `name` (its class name) and a message a person can act on. The daemon
turns them into error replies; the CLI and the dashboard show the message as it is.
"""
from __future__ import annotations


class StudioError(Exception):
    """Base class: an error whose message is meant for the user."""

    def to_reply(self) -> dict:
        return {"status": "error", "ename": type(self).__name__, "evalue": str(self)}


class SettingsError(StudioError):
    """A setting is unknown, of the wrong type or out of range; the message names the field by
    the label forms show. `setting` is its internal key ("preprocess.dataset") when known."""

    setting: str | None = None


class ProtocolError(StudioError):
    """A message could not be parsed, verified or dispatched."""


class AuthError(ProtocolError):
    """A message had a missing or wrong signature, or was a replay."""


class DaemonNotRunning(StudioError):
    """No daemon answers for this studio home."""


class DaemonTimeout(StudioError):
    """The daemon did not answer in time."""


class DaemonLocked(StudioError):
    """Another daemon already owns this studio home."""


class JobError(StudioError):
    """A job could not be submitted, cancelled or stopped."""


class JobStopped(StudioError):
    """Raised inside a job when the user asked it to stop (after it saved)."""


class DatasetError(StudioError):
    """A dataset file, folder, CSV row or sidecar is wrong; the message names it."""


class AudioError(DatasetError):
    """An audio file is empty, truncated, silent or not audio at all; the message names the file."""


class CheckpointError(StudioError):
    """A model checkpoint folder is missing files or is broken; the message names the file."""


class TensorFolderError(StudioError):
    """A folder of training tensors is incomplete, corrupt or made with another model."""


class TrainingError(StudioError):
    """Training cannot start or cannot go on; the message says why and what to change."""


def error_by_name(name: str) -> type[StudioError]:
    """The error class for a reply's `ename`, StudioError when unknown."""
    found = _all_subclasses(StudioError).get(name)
    return found or StudioError


def _all_subclasses(cls: type) -> dict[str, type]:
    out: dict[str, type] = {}
    for sub in cls.__subclasses__():
        out[sub.__name__] = sub
        out.update(_all_subclasses(sub))
    return out


class SampleError(StudioError):
    """A clip cannot be sampled (out of memory, a prompt missing...); the message says what to change."""


class AdapterError(StudioError):
    """An adapter folder is missing, incomplete or does not fit the model; the message names the folder."""


class ExportError(StudioError):
    """An adapter cannot be merged, exported or copied; the message names the file or folder."""


class CaptionError(StudioError):
    """A file cannot be captioned or a captioning provider refused; the message says which and why."""


class ProviderError(CaptionError):
    """A cloud provider refused or failed (key missing or refused, rate limit, timeout). `fatal`: every
    further request would fail the same way (a key), so the batch stops instead of trying each file."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class PipelineError(StudioError):
    """A stage of a pipeline failed or was stopped; the message names the stage and the reason."""
