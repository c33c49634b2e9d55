"""Message formatting as the Bot API does it: ``parse_mode=HTML`` and reply markup.

:func:`parse_html` turns Telegram-flavoured HTML into plain text plus
``MessageEntity`` dicts (offsets and lengths in UTF-16 code units, as Telegram
counts them) and fails with the same error texts as the real server for the
common mistakes: an unsupported tag (a bare ``<`` included), an unclosed tag or
a mismatched end tag. Markdown modes are accepted but not parsed.
"""

from __future__ import annotations

import html
import re
from typing import Any

from . import errors
from .errors import bad_request
from .protocol import MAX_CALLBACK_DATA_BYTES

HTML_TAG_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
PARSE_MODES = frozenset({"html", "markdown", "markdownv2"})
_ATTRIBUTE = re.compile(r"""\s*([A-Za-z-]+)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
_CHAR_REFERENCE = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|lt|gt|amp|quot);")
_INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


class EntityParseError(ValueError):
    """Raised by :func:`parse_html`; the message is Telegram's detail text."""


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (how Telegram measures text)."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of an HTML-formatted message."""
    parser = _HtmlParser(source)
    return parser.run()


class _HtmlParser:
    """A small scanner following tdlib's ``parse_html`` rules and error texts."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pieces: list[str] = []
        self.length = 0  # of the output so far, in UTF-16 units
        self.stack: list[dict[str, Any]] = []
        self.entities: list[dict[str, Any]] = []

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        pos = 0
        while pos < len(self.source):
            if self.source[pos] == "<":
                pos = self._tag(pos)
            else:
                pos = self._text(pos)
        if self.stack:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1]["tag"]}"'
            )
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self.pieces), self.entities

    def _byte_offset(self, pos: int) -> int:
        return len(self.source[:pos].encode("utf-8"))

    def _emit(self, text: str) -> None:
        self.pieces.append(text)
        self.length += utf16_length(text)

    def _text(self, pos: int) -> int:
        end = self.source.find("<", pos)
        end = len(self.source) if end == -1 else end
        self._emit(_CHAR_REFERENCE.sub(lambda m: html.unescape(m.group(0)), self.source[pos:end]))
        return end

    def _tag(self, begin: int) -> int:
        if self.source.startswith("</", begin):
            return self._end_tag(begin)
        pos = begin + 1
        while pos < len(self.source) and not self.source[pos].isspace() and self.source[pos] != ">":
            pos += 1
        if pos >= len(self.source):
            raise EntityParseError(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
        name = self.source[begin + 1 : pos].lower()
        if name not in HTML_TAG_ENTITIES:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {self._byte_offset(begin)}'
            )
        close = self.source.find(">", pos)
        if close == -1:
            raise EntityParseError(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
        attributes = dict(self._attributes(self.source[pos:close]))
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset(begin)}'
            )
        self.stack.append({"tag": name, "offset": self.length, "attributes": attributes})
        return close + 1

    @staticmethod
    def _attributes(text: str) -> list[tuple[str, str]]:
        found = []
        for match in _ATTRIBUTE.finditer(text):
            if not match.group(1):
                continue
            value = match.group(2) or ""
            if value[:1] in ("'", '"'):
                value = value[1:-1]
            found.append((match.group(1).lower(), html.unescape(value)))
        return found

    def _end_tag(self, begin: int) -> int:
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {self._byte_offset(begin)}")
        close = self.source.find(">", begin)
        if close == -1:
            raise EntityParseError(f"Unclosed end tag at byte offset {self._byte_offset(begin)}")
        name = self.source[begin + 2 : close].strip().lower()
        opened = self.stack[-1]["tag"]
        if name and name != opened:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {self._byte_offset(begin)}, "
                f'expected "</{opened}>", found "</{name}>"'
            )
        self._close(self.stack.pop())
        return close + 1

    def _close(self, opened: dict[str, Any]) -> None:
        length = self.length - opened["offset"]
        tag, attributes = opened["tag"], opened["attributes"]
        parent = self.stack[-1] if self.stack else None
        language = attributes.get("class", "")
        if tag == "code" and parent and parent["tag"] == "pre" and language.startswith("language-"):
            parent["attributes"]["language"] = language.removeprefix("language-")
            return
        if length <= 0:
            return
        entity: dict[str, Any] = {
            "type": HTML_TAG_ENTITIES[tag],
            "offset": opened["offset"],
            "length": length,
        }
        if tag == "a":
            entity["url"] = attributes.get("href", "")
        elif tag == "pre" and attributes.get("language"):
            entity["language"] = attributes["language"]
        elif tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attributes.get("emoji-id", "")
        self.entities.append(entity)


def format_text(
    text: str,
    parse_mode: str | None,
    entities: list[dict[str, Any]] | None,
    max_length: int,
    too_long: str,
) -> tuple[str, list[dict[str, Any]] | None]:
    """Apply ``parse_mode`` (or explicit ``entities``) and check the length limit.

    Raises :class:`ApiError` with Telegram's texts.
    """
    if parse_mode:
        mode = parse_mode.lower()
        if mode not in PARSE_MODES:
            raise bad_request(errors.UNSUPPORTED_PARSE_MODE)
        if mode == "html":
            try:
                text, entities = parse_html(text)
            except EntityParseError as exc:
                raise bad_request(errors.CANT_PARSE_ENTITIES.format(detail=exc)) from None
    if utf16_length(text) > max_length:
        raise bad_request(too_long)
    return text, entities or None


def validate_reply_markup(markup: Any) -> dict[str, Any]:
    """Check a decoded ``reply_markup`` object; return it unchanged."""
    if not isinstance(markup, dict):
        raise bad_request(errors.BAD_REPLY_MARKUP)
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(errors.BAD_REPLY_MARKUP)
        for row in rows:
            for button in row:
                _validate_inline_button(button)
        return markup
    if any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
        return markup
    raise bad_request(errors.BAD_REPLY_MARKUP)


def _validate_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            errors.BAD_INLINE_BUTTON.format(detail='Field "text" must be of type String')
        )
    actions = [name for name in _INLINE_BUTTON_ACTIONS if name in button]
    if len(actions) != 1:
        detail = "exactly one of the optional fields must be used"
        raise bad_request(errors.BAD_INLINE_BUTTON.format(detail=detail))
    if "callback_data" in button:
        data = button["callback_data"]
        size = len(data.encode("utf-8")) if isinstance(data, str) else 0
        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request(errors.BUTTON_DATA_INVALID)


def inline_keyboard(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of ``reply_markup`` that Telegram keeps on the sent message."""
    if markup and "inline_keyboard" in markup:
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None


def has_callback_button(markup: dict[str, Any] | None, data: str) -> bool:
    """Whether an inline keyboard has a button with ``callback_data == data``."""
    rows = (markup or {}).get("inline_keyboard") or []
    return any(button.get("callback_data") == data for row in rows for button in row)

