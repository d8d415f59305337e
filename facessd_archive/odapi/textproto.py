"""A small reader for protobuf text format (``pipeline.config``, the ``checkpoint`` file), no .proto needed.

The Object Detection API's message definitions are not installed here, so ``text_format`` has
nothing to parse against. The grammar is small: ``name: scalar``, ``name { ... }`` (or
``name: { ... }``, ``< ... >``), ``name: [a, b]``, optional ``,`` / ``;`` after a field, ``#``
comments, single- or double-quoted strings (adjacent ones joined). ``Message`` keeps every field
with its line, and remembers which fields a reader asked for, so a mapper can say exactly which
field it did not understand (``Message.finish``) instead of ignoring it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterator

from facessd_archive.errors import ConfigError

_PUNCT = "{}<>[]:,;"


@dataclass(frozen=True)
class Scalar:
    """One scalar token: ``kind`` is ``ident`` (an enum, true/false), ``number`` or ``string``."""

    kind: str
    text: str
    line: int


@dataclass
class Field:
    name: str
    value: "Scalar | Message"
    line: int


@dataclass
class Message:
    """A parsed message. ``path`` is its dotted place in the file (``model.ssd.loss``) for messages."""

    source: str
    path: str = ""
    fields: list[Field] = field(default_factory=list)
    line: int = 0
    _read: set[str] = field(default_factory=set)

    # --- reading ----------------------------------------------------------------------------------
    def where(self, name: str | None = None, line: int | None = None) -> str:
        dotted = ".".join(p for p in (self.path, name) if p)
        return f"{self.source}:{line or self.line}: {dotted}" if dotted else f"{self.source}:{line or self.line}"

    def names(self) -> list[str]:
        return list(dict.fromkeys(f.name for f in self.fields))

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    def _all(self, name: str) -> list[Field]:
        self._read.add(name)
        return [f for f in self.fields if f.name == name]

    def messages(self, name: str) -> list["Message"]:
        found = self._all(name)
        for f in found:
            if not isinstance(f.value, Message):
                raise ConfigError(f"{self.where(name, f.line)} must be a message {{ ... }}, got {f.value.text!r}")
        return [f.value for f in found]  # type: ignore[misc]

    def message(self, name: str, required: bool = False) -> "Message | None":
        found = self.messages(name)
        if len(found) > 1:
            raise ConfigError(f"{self.where(name, found[1].line)} is given more than once")
        if not found and required:
            raise ConfigError(f"{self.where(name)} is missing")
        return found[0] if found else None

    def scalars(self, name: str) -> list[Scalar]:
        found = self._all(name)
        out = []
        for f in found:
            if isinstance(f.value, Message):
                raise ConfigError(f"{self.where(name, f.line)} must be a value, got a message")
            out.append(f.value)
        return out

    def _one(self, name: str) -> Scalar | None:
        found = self.scalars(name)
        if len(found) > 1:
            raise ConfigError(f"{self.where(name, found[1].line)} is given more than once")
        return found[0] if found else None

    def float(self, name: str, default: float) -> float:
        s = self._one(name)
        return default if s is None else to_float(s, self.where(name, s.line))

    def floats(self, name: str) -> list[float]:
        return [to_float(s, self.where(name, s.line)) for s in self.scalars(name)]

    def int(self, name: str, default: int) -> int:
        s = self._one(name)
        return default if s is None else to_int(s, self.where(name, s.line))

    def bool(self, name: str, default: bool) -> bool:
        s = self._one(name)
        return default if s is None else to_bool(s, self.where(name, s.line))

    def str(self, name: str, default: str) -> str:
        s = self._one(name)
        return default if s is None else s.text

    def line_of(self, name: str) -> int:
        for f in self.fields:
            if f.name == name:
                return f.line
        return self.line

    def oneof(self, choices: tuple[str, ...], what: str) -> tuple[str, "Message"]:
        """The one sub-message among ``choices`` that is set; anything else present is an error."""
        present = [n for n in self.names()]
        if not present:
            raise ConfigError(f"{self.where()} sets no {what} (expected one of {', '.join(choices)})")
        if len(present) > 1:
            raise ConfigError(f"{self.where()} sets more than one {what}: {', '.join(present)}")
        name = present[0]
        if name not in choices:
            raise ConfigError(f"{self.where(name, self.line_of(name))}: {what} {name!r} is not supported by "
                              f"facessd (supported: {', '.join(choices)})")
        return name, self.message(name, required=True)  # type: ignore[return-value]

    def ignore(self, *names: str) -> None:
        """Mark fields as understood without reading them (they change nothing facessd represents)."""
        self._read.update(names)

    def finish(self) -> None:
        """Every field was read or ignored; otherwise one error naming the first field facessd cannot represent."""
        for f in self.fields:
            if f.name not in self._read:
                raise ConfigError(f"{self.where(f.name, f.line)} is not supported by facessd (it has no "
                                  f"equivalent here; remove it or use the OD API)")

    def to_dict(self) -> dict:
        """Plain JSON values: a field given once is a value, a repeated field a list."""
        out: dict = {}
        for name in self.names():
            values = [f.value.to_dict() if isinstance(f.value, Message) else _plain(f.value)
                      for f in self.fields if f.name == name]
            out[name] = values[0] if len(values) == 1 else values
        return out


def _plain(s: Scalar):
    if s.kind == "string":
        return s.text
    if s.kind == "number":
        try:
            return int(s.text, 0)
        except ValueError:
            try:
                return float(s.text.rstrip("fF"))
            except ValueError:
                return s.text
    if s.text in ("true", "True"):
        return True
    if s.text in ("false", "False"):
        return False
    return s.text


def to_float(s: Scalar, where: str) -> float:
    text = s.text.lower()
    if s.kind == "ident" and text in ("inf", "infinity", "nan", "-inf"):
        return float(text)
    if s.kind != "number":
        raise ConfigError(f"{where} must be a number, got {s.text!r}")
    try:
        return float(text.rstrip("f")) if not text.startswith("0x") else float(int(text, 16))
    except ValueError:
        raise ConfigError(f"{where} must be a number, got {s.text!r}") from None


def to_int(s: Scalar, where: str) -> int:
    if s.kind != "number":
        raise ConfigError(f"{where} must be an integer, got {s.text!r}")
    try:
        return int(s.text, 0)
    except ValueError:
        raise ConfigError(f"{where} must be an integer, got {s.text!r}") from None


def to_bool(s: Scalar, where: str) -> bool:
    if s.text in ("true", "True", "t", "1"):
        return True
    if s.text in ("false", "False", "f", "0"):
        return False
    raise ConfigError(f"{where} must be true or false, got {s.text!r}")


# --- the grammar ------------------------------------------------------------------------------------
def _tokens(text: str, source: str) -> Iterator[tuple[str, str, int]]:
    """(kind, text, line): kind is punct, ident, number or string."""
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in _PUNCT:
            yield "punct", c, line
            i += 1
        elif c in "'\"":
            j = i + 1
            while j < n and text[j] != c:
                if text[j] == "\n":
                    raise ConfigError(f"{source}:{line}: unterminated string")
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise ConfigError(f"{source}:{line}: unterminated string")
            raw = text[i:j + 1]
            try:
                value = ast.literal_eval(raw) if "\\" in raw else raw[1:-1]
            except (ValueError, SyntaxError):
                raise ConfigError(f"{source}:{line}: bad string escape in {raw!r}") from None
            yield "string", value, line
            i = j + 1
        elif c.isalnum() or c in "_-+.":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_-+./"):
                j += 1
            word = text[i:j]
            kind = "number" if (word[0].isdigit() or (word[0] in "-+." and len(word) > 1 and
                                                     (word[1].isdigit() or word[1] == "."))) else "ident"
            yield kind, word, line
            i = j
        else:
            raise ConfigError(f"{source}:{line}: unexpected character {c!r}")


class _Parser:
    def __init__(self, text: str, source: str):
        self.toks = list(_tokens(text, source))
        self.pos = 0
        self.source = source

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            last = self.toks[-1][2] if self.toks else 1
            raise ConfigError(f"{self.source}:{last}: unexpected end of file (a '}}' missing?)")
        self.pos += 1
        return tok

    def message(self, path: str, line: int, close: str | None) -> Message:
        msg = Message(self.source, path, line=line)
        while True:
            tok = self.peek()
            if tok is None:
                if close is not None:
                    raise ConfigError(f"{self.source}:{line}: {path or 'message'} is not closed (expected "
                                      f"{close!r} before the end of the file)")
                return msg
            kind, text, tline = tok
            if kind == "punct" and text == close:
                self.pos += 1
                return msg
            if kind != "ident":
                raise ConfigError(f"{self.source}:{tline}: expected a field name, got {text!r}")
            self.pos += 1
            name = text
            sub_path = f"{path}.{name}" if path else name
            kind, text, tline2 = self.take()
            colon = kind == "punct" and text == ":"
            if colon:
                kind, text, tline2 = self.take()
            if kind == "punct" and text in "{<":
                msg.fields.append(Field(name, self.message(sub_path, tline, "}" if text == "{" else ">"), tline))
            elif kind == "punct" and text == "[" and colon:
                while True:
                    kind, text, tline2 = self.take()
                    if kind == "punct" and text == "]":
                        break
                    if kind == "punct" and text in "{<":
                        msg.fields.append(Field(name, self.message(sub_path, tline2, "}" if text == "{" else ">"),
                                                tline2))
                    elif kind == "punct":
                        raise ConfigError(f"{self.source}:{tline2}: unexpected {text!r} in the list {sub_path}")
                    else:
                        msg.fields.append(Field(name, self.scalar(kind, text, tline2), tline2))
                    sep = self.peek()
                    if sep is not None and sep[0] == "punct" and sep[1] == ",":
                        self.pos += 1
            elif colon and kind != "punct":
                msg.fields.append(Field(name, self.scalar(kind, text, tline2), tline))
            else:
                raise ConfigError(f"{self.source}:{tline2}: expected ':' or '{{' after {name!r}, got {text!r}")
            sep = self.peek()
            if sep is not None and sep[0] == "punct" and sep[1] in ",;":
                self.pos += 1

    def scalar(self, kind: str, text: str, line: int) -> Scalar:
        if kind == "string":  # adjacent strings join, as in protobuf
            while (nxt := self.peek()) is not None and nxt[0] == "string":
                text += nxt[1]
                self.pos += 1
        return Scalar(kind, text, line)


def parse_text_proto(text: str, source: str) -> Message:
    """Parse protobuf text format; errors name ``source`` and the line."""
    return _Parser(text, source).message("", 1, None)
