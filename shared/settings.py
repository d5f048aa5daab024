"""The settings registry: every setting is declared once, as a dataclass field with metadata.

Dashboard forms, CLI flags, JSON validation (presets, profiles, job submissions) and the docs are
all derived from these declarations, so no setting is spelled out twice:

    @dataclass
    class SelftestSettings(SettingsGroup):
        steps: int = setting(20, "How many steps to run.", section="Selftest", minimum=1)

`SettingsGroup.from_dict` refuses unknown keys and wrong types with the field named.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from shared.errors import SettingsError

IMPORTANCE = ("basic", "advanced", "expert")


def setting(
    default: Any,
    help: str,
    *,
    section: str = "General",
    importance: str = "basic",
    choices: typing.Sequence[Any] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    label: str | None = None,
) -> Any:
    """Declare one setting: a dataclass field whose metadata drives forms, flags, checks and docs."""
    if importance not in IMPORTANCE:
        raise ValueError(f"importance must be one of {IMPORTANCE}")
    meta = {
        "help": help,
        "section": section,
        "importance": importance,
        "choices": tuple(choices) if choices is not None else None,
        "minimum": minimum,
        "maximum": maximum,
        "label": label,
    }
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class SettingSpec:
    """What one declaration says, resolved: the field's name, base type and metadata."""

    name: str
    type: type
    optional: bool
    is_list: bool
    default: Any
    help: str
    section: str
    importance: str
    choices: tuple | None
    minimum: float | None
    maximum: float | None
    label: str

    def error(self, problem: str, owner: str) -> SettingsError:
        """A SettingsError that names this setting by its label, as forms show it ("Dataset file:
        a path is required"); `.setting` keeps the internal key ("preprocess.dataset")."""
        return field_error(f"{owner}.{self.name}", self.label, problem)

    def check(self, value: Any, owner: str) -> Any:
        """The value, coerced where lossless (int to float), or SettingsError naming the field."""
        if value is None:
            if self.optional:
                return None
            raise self.error(f"a value is required (expected {self.type_name()})", owner)
        if self.is_list:
            if not isinstance(value, (list, tuple)):
                raise self.error(f"expected a list of {self.type.__name__}, got {value!r}", owner)
            return [self._check_scalar(v, owner) for v in value]
        return self._check_scalar(value, owner)

    def _check_scalar(self, value: Any, owner: str) -> Any:
        expected = self.type
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is not bool and isinstance(value, bool) or not isinstance(value, expected):
            raise self.error(f"expected {self.type_name()}, got {value!r}", owner)
        if expected is float and not math.isfinite(value):  # NaN passes every range check
            raise self.error(f"expected a finite number, got {value!r}", owner)
        if self.choices is not None and value not in self.choices:
            raise self.error(f"{value!r} is not one of {list(self.choices)}", owner)
        if self.minimum is not None and value < self.minimum:
            raise self.error(f"{value!r} is below the minimum {self.minimum}", owner)
        if self.maximum is not None and value > self.maximum:
            raise self.error(f"{value!r} is above the maximum {self.maximum}", owner)
        return value

    def parse_text(self, text: str, owner: str) -> Any:
        """Parse a command-line string (`--set key=value`) into a checked value."""
        if self.optional and text.lower() in ("none", "null", ""):
            return None
        if self.is_list:
            parts = [p.strip() for p in text.split(",") if p.strip()]
            return self.check([self._parse_scalar(p, owner) for p in parts], owner)
        return self.check(self._parse_scalar(text, owner), owner)

    def _parse_scalar(self, text: str, owner: str) -> Any:
        try:
            if self.type is bool:
                lowered = text.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            if self.type is int:
                return int(text)
            if self.type is float:
                return float(text)
        except ValueError:
            raise self.error(f"expected {self.type_name()}, got {text!r}", owner) from None
        return text

    def type_name(self) -> str:
        base = f"list of {self.type.__name__}" if self.is_list else self.type.__name__
        return f"{base} or null" if self.optional else base


class SettingsGroup:
    """Base for a dataclass of settings; subclasses are decorated with @dataclass."""

    group_name: ClassVar[str] = ""

    @classmethod
    def specs(cls) -> list[SettingSpec]:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if not f.metadata:
                continue
            base, optional, is_list = _resolve_type(hints[f.name])
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            out.append(
                SettingSpec(
                    name=f.name, type=base, optional=optional, is_list=is_list, default=default,
                    help=f.metadata["help"], section=f.metadata["section"],
                    importance=f.metadata["importance"], choices=f.metadata["choices"],
                    minimum=f.metadata["minimum"], maximum=f.metadata["maximum"],
                    label=f.metadata["label"] or f.name.replace("_", " ").capitalize(),
                )
            )
        return out

    @classmethod
    def spec(cls, name: str) -> SettingSpec:
        for s in cls.specs():
            if s.name == name:
                return s
        raise SettingsError(f"{cls._owner()}: unknown setting {name!r}; known: {', '.join(cls.names())}")

    @classmethod
    def names(cls) -> list[str]:
        return [s.name for s in cls.specs()]

    @classmethod
    def _owner(cls) -> str:
        return cls.group_name or cls.__name__

    @classmethod
    def from_dict(cls, data: dict | None, *, strict: bool = True) -> Self:
        """Build from JSON-like data; unknown keys are refused when strict, wrong types always."""
        data = dict(data or {})
        if not isinstance(data, dict):
            raise SettingsError(f"{cls._owner()}: expected an object of settings, got {data!r}")
        specs = {s.name: s for s in cls.specs()}
        unknown = sorted(set(data) - set(specs))
        if unknown and strict:
            raise SettingsError(
                f"{cls._owner()}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(specs)}"
            )
        values = {name: spec.check(data[name], cls._owner()) for name, spec in specs.items() if name in data}
        instance = cls(**values)
        try:
            instance.validate()
        except SettingsError as err:
            raise cls.labelled(err) from None
        return instance

    @classmethod
    def field_error(cls, name: str, problem: str) -> SettingsError:
        """A SettingsError about one setting of this group, named by its label."""
        return cls.spec(name).error(problem, cls._owner())

    @classmethod
    def labelled(cls, err: SettingsError) -> SettingsError:
        """`err` with every `group.setting` key of this group in its message replaced by the
        setting's label (cross-field checks name keys; people read labels)."""
        if getattr(err, "setting", None):
            return err
        text, named = str(err), {}
        for spec in sorted(cls.specs(), key=lambda s: -len(s.name)):  # "lr_warmup" before "lr"
            key = f"{cls._owner()}.{spec.name}"
            pattern = re.compile(rf"(?<![\w.]){re.escape(key)}(?!\w)")
            if found := pattern.search(str(err)):
                named[found.start()] = key
                text = pattern.sub(spec.label, text)
        labelled = type(err)(text)
        labelled.setting = named[min(named)] if named else None
        return labelled

    @classmethod
    def unknown_keys(cls, data: dict) -> list[str]:
        return sorted(set(data) - set(cls.names()))

    def validate(self) -> None:
        """Cross-field checks; subclasses raise SettingsError naming the fields."""

    def to_dict(self) -> dict:
        return {s.name: _plain(getattr(self, s.name)) for s in self.specs()}

    def replace(self, **changes: Any) -> Self:
        return type(self).from_dict({**self.to_dict(), **changes})

    def with_overrides(self, pairs: typing.Iterable[str]) -> Self:
        """Apply `key=value` strings (the CLI's `--set`), each parsed by its declared type."""
        changes = {}
        for pair in pairs:
            if "=" not in pair:
                raise SettingsError(f"--set {pair!r}: expected key=value")
            key, text = pair.split("=", 1)
            changes[key.strip()] = self.spec(key.strip()).parse_text(text.strip(), self._owner())
        return self.replace(**changes)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, *, only: typing.Iterable[str] | None = None) -> None:
        """Add one `--flag` per setting (or per named setting), parsed by its declared type."""
        wanted = set(only) if only is not None else None
        for spec in cls.specs():
            if wanted is not None and spec.name not in wanted:
                continue
            flag = "--" + spec.name.replace("_", "-")
            kwargs: dict[str, Any] = {"dest": spec.name, "default": None, "help": spec.help}
            if spec.type is bool and not spec.is_list:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = _argparse_type(spec, cls._owner())
                kwargs["metavar"] = spec.type.__name__.upper()
                if spec.choices:
                    kwargs["metavar"] = "{" + ",".join(map(str, spec.choices)) + "}"
            parser.add_argument(flag, **kwargs)

    @classmethod
    def from_args(cls, namespace: argparse.Namespace, base: dict | None = None) -> Self:
        """Settings from parsed flags over `base` (a preset or defaults); unset flags keep base."""
        data = dict(base or {})
        for spec in cls.specs():
            value = getattr(namespace, spec.name, None)
            if value is not None:
                data[spec.name] = value
        return cls.from_dict(data)

    @classmethod
    def sections(cls) -> dict[str, list[SettingSpec]]:
        out: dict[str, list[SettingSpec]] = {}
        for spec in cls.specs():
            out.setdefault(spec.section, []).append(spec)
        return out

    @classmethod
    def markdown(cls) -> str:
        """Docs for the group, one table per section."""
        lines = [f"## {cls._owner()}", ""]
        for section, specs in cls.sections().items():
            lines += [f"### {section}", "", "| setting | type | default | allowed | help |", "|---|---|---|---|---|"]
            for s in specs:
                default = json.dumps(_plain(s.default))
                lines.append(f"| `{s.name}` | {s.type_name()} | `{default}` | {_allowed(s)} | {s.help} |")
            lines.append("")
        return "\n".join(lines)


def field_error(setting: str, label: str, problem: str) -> SettingsError:
    """SettingsError("Label: problem") carrying the internal key as `.setting`."""
    err = SettingsError(f"{label}: {problem}")
    err.setting = setting
    return err


def _allowed(s: SettingSpec) -> str:
    if s.choices:
        return ", ".join(map(str, s.choices))
    if s.minimum is not None or s.maximum is not None:
        lo = "" if s.minimum is None else s.minimum
        hi = "" if s.maximum is None else s.maximum
        return f"{lo} .. {hi}"
    return ""


def _argparse_type(spec: SettingSpec, owner: str):
    def parse(text: str):
        try:
            return spec.parse_text(text, owner)
        except SettingsError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = spec.type.__name__
    return parse


def _resolve_type(hint: Any) -> tuple[type, bool, bool]:
    """(base type, optional, is_list) for int, float, str, bool, list[...] and `X | None`."""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) != len(typing.get_args(hint))
        hint = args[0]
        origin = typing.get_origin(hint)
    if origin is list:
        return typing.get_args(hint)[0], optional, True
    return hint, optional, False


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
