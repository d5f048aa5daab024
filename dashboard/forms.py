"""Widgets derived from the settings registry: one form for any SettingsGroup, by section."""
from __future__ import annotations

from typing import Any

import streamlit as st

from shared.settings import SettingsGroup, SettingSpec


def settings_form(group: type[SettingsGroup], values: dict | None = None, *, key: str,
                  show: tuple[str, ...] = ("basic", "advanced", "expert"),
                  exclude: tuple[str, ...] = ()) -> dict:
    """Render every setting of `group` (basic ones open, others in an expander) and return the values.

    `values` seeds the widgets (a preset, a loaded profile); the result is plain JSON-able data that
    `group.from_dict` validates. Widget keys are prefixed with `key` so edits survive reruns.
    """
    current = {**group().to_dict(), **(values or {})}
    out: dict[str, Any] = {}
    for section, specs in group.sections().items():
        specs = [s for s in specs if s.importance in show and s.name not in exclude]
        if not specs:
            continue
        basic = [s for s in specs if s.importance == "basic"]
        more = [s for s in specs if s.importance != "basic"]
        st.markdown(f"**{section}**")
        for spec in basic:
            out[spec.name] = setting_widget(spec, current.get(spec.name), key)
        if more:
            with st.expander(f"{section}: advanced"):
                for spec in more:
                    out[spec.name] = setting_widget(spec, current.get(spec.name), key)
    return out


def setting_widget(spec: SettingSpec, value: Any, key: str) -> Any:
    """One widget for one setting, chosen by its declared type."""
    wkey = f"{key}.{spec.name}"
    label = spec.label
    if spec.is_list:
        text = st.text_input(label, ", ".join(map(str, value or [])), help=spec.help, key=wkey)
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return [spec.type(p) for p in parts] if spec.type is not str else parts
    if spec.type is bool:
        return st.checkbox(label, bool(value), help=spec.help, key=wkey)
    if spec.choices:
        options = list(spec.choices)
        index = options.index(value) if value in options else 0
        return st.selectbox(label, options, index=index, help=spec.help, key=wkey)
    if spec.type in (int, float):
        return _number(spec, value, wkey)
    text = st.text_input(label, "" if value is None else str(value), help=spec.help, key=wkey)
    return None if (spec.optional and text == "") else text


def _number(spec: SettingSpec, value: Any, wkey: str) -> Any:
    if spec.optional:
        enabled = st.checkbox(f"Set {spec.label.lower()}", value is not None, key=f"{wkey}.on", help=spec.help)
        if not enabled:
            return None
    cast = spec.type
    default = value if value is not None else (spec.minimum if spec.minimum is not None else 0)
    kwargs: dict[str, Any] = {"help": spec.help, "key": wkey, "value": cast(default)}
    if spec.minimum is not None:
        kwargs["min_value"] = cast(spec.minimum)
    if spec.maximum is not None:
        kwargs["max_value"] = cast(spec.maximum)
    if cast is int:
        kwargs["step"] = 1
    else:
        kwargs["format"] = "%g"
    return st.number_input(spec.label, **kwargs)
