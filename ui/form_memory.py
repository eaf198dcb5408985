"""Form values that survive leaving the page and reloading it.

Streamlit forgets a widget's value when its page is left, and a reload starts a new session. So each kept widget
has a shadow copy in the session (it outlives the page) and, when it differs from its default, a query parameter
(it outlives a reload and can be bookmarked or shared). A value in the address is checked like any input: one
that is not allowed is ignored with one line, never passed on.

    fields = {"fer_epochs": Field(10, low=1, high=100), "fer_arch": Field("resnet18", options=FER_ARCHS)}
    restore_form(fields)   # before the widgets, which take their value from the session (no value=/index= given)
    ...widgets with key=...
    remember_form(fields)  # after them
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st


@dataclass(frozen=True)
class Field:
    default: Any
    options: Sequence[Any] | None = None
    low: float | None = None
    high: float | None = None

    def parse(self, text: str) -> Any:
        """The value an address spells, or ValueError when it is not one this field allows."""
        kind = type(self.default)
        if kind is bool:
            if text not in ("true", "false"):
                raise ValueError(text)
            value: Any = text == "true"
        else:
            value = kind(text)  # int("x") / float("x") raise ValueError
        if self.options is not None and value not in self.options:
            raise ValueError(text)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(text)
        return value

    @staticmethod
    def spell(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _shadow(key: str) -> str:
    return f"kept:{key}"


def restore_form(fields: dict[str, Field]) -> None:
    """Give each widget its value before it is drawn: this session's last value, else the address's, else the
    default."""
    refused = []
    for key, field in fields.items():
        if key in st.session_state:
            continue
        if _shadow(key) in st.session_state:
            st.session_state[key] = st.session_state[_shadow(key)]
            continue
        value = field.default
        asked = st.query_params.get(key)
        if asked is not None:
            try:
                value = field.parse(asked)
            except ValueError:
                refused.append(f"{key}={asked}")
                del st.query_params[key]
        st.session_state[key] = value
    if refused:
        st.warning(f"Ignored from the address (not an allowed value): `{'`, `'.join(refused)}`.", icon="⚠️")


def remember_form(fields: dict[str, Field]) -> None:
    """After the widgets: the shadow copies and the address follow their values (defaults leave the address)."""
    for key, field in fields.items():
        if key not in st.session_state:
            continue
        value = st.session_state[key]
        st.session_state[_shadow(key)] = value
        if value == field.default:
            st.query_params.pop(key, None)
        else:
            st.query_params[key] = Field.spell(value)
