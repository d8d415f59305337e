"""Typed loading of JSON into frozen dataclasses, with the path of the bad field in every error.

``load(Manifest, data, "stage.json")`` walks the dataclass's type hints: a JSON object becomes
the dataclass (unknown keys and missing required keys are errors), a list becomes a tuple, and
each leaf is checked against its type (``int`` is not ``bool``, ``float`` accepts ints,
``Literal`` values are listed). Value rules (ranges, hex digests, safe paths) live in each
dataclass's ``__post_init__`` and raise ``FieldError``; the loader adds where it happened:
``keypoints/v1/x/stage.json: files[0].sha256 must be 64 hex digits, got 'abc'``.

``dump`` is the inverse: dataclasses to plain JSON values (tuples become lists).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Mapping, Union

from facessd_archive.errors import ConfigError, ManifestError, UnsafePathError
from facessd_archive.model.config import ModelConfig


class FieldError(ManifestError):
    """A value rule failed in a dataclass's ``__post_init__``. Example: ``sha256 must be 64 hex digits``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.detail = message


def need(condition: bool, field: str, message: str) -> None:
    """Raise FieldError(field, message) unless ``condition``."""
    if not condition:
        raise FieldError(field, message)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "a list"
    if origin in (dict, Mapping):
        return "an object"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp) or tp is ModelConfig:
        return "an object"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(tp, str(tp))


def load(tp: Any, value: Any, where: str) -> Any:
    """Convert the JSON value ``value`` to type ``tp``; ``where`` names it in errors (``files[0].sha256``)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        non_null = [o for o in options if o is not type(None)]
        if len(non_null) == 1:
            return load(non_null[0], value, where)
        raise ManifestError(f"{where}: unsupported union {tp}")  # schema bug, not a user error
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ManifestError(f"{where} must be {_type_name(tp)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ManifestError(f"{where} must be a list, got {type(value).__name__}")
        (item_type, _ellipsis) = typing.get_args(tp)
        return tuple(load(item_type, item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise ManifestError(f"{where} must be an object, got {type(value).__name__}")
        _key_type, item_type = typing.get_args(tp)
        return {str(k): load(item_type, v, f"{where}[{k!r}]") for k, v in value.items()}
    if tp is ModelConfig:
        try:
            return ModelConfig.from_dict(value)
        except ConfigError as e:
            raise ManifestError(f"{where}: {e}") from None
    if dataclasses.is_dataclass(tp):
        return _load_dataclass(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ManifestError(f"{where} must be true/false, got {value!r}")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ManifestError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ManifestError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ManifestError(f"{where} must be a string, got {value!r}")
        return value
    raise ManifestError(f"{where}: unsupported type {tp}")  # schema bug


def load_document(cls: type, data: Any, source: str) -> Any:
    """``load`` of a whole JSON document (a stage.json, the archive index) into ``cls``, with
    ``source`` (the file) in front of every error, keeping the error's type."""
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: expected a JSON object, got {type(data).__name__}")
    try:
        return load(cls, data, "")
    except UnsafePathError as e:
        raise UnsafePathError(f"{source}: {e}") from None
    except ManifestError as e:
        raise ManifestError(f"{source}: {e}") from None


def _load_dataclass(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ManifestError(f"{where} must be an object, got {type(value).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ManifestError(f"{where + ': ' if where else ''}unknown field(s) {unknown}")
    kwargs = {}
    for name, f in fields.items():
        sub = f"{where}.{name}" if where else name
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ManifestError(f"{sub} is missing")
            continue
        kwargs[name] = load(hints[name], value[name], sub)
    try:
        return cls(**kwargs)
    except FieldError as e:
        raise ManifestError(f"{where + '.' if where else ''}{e.field} {e.detail}") from None
    except UnsafePathError as e:
        raise UnsafePathError(f"{where}: {e}" if where else str(e)) from None


def dump(obj: Any) -> Any:
    """Plain JSON value of a dataclass tree (tuples to lists, ModelConfig through its ``to_dict``)."""
    if isinstance(obj, ModelConfig):
        return dump(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: dump(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [dump(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): dump(v) for k, v in obj.items()}
    return obj
