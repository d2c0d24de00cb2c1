"""Parsing of inbound workspace-channel messages, bounded in size and nesting depth.

Python's `json` parser recurses once per nesting level: `[` x 30000 raises RecursionError deep inside it. The depth
is therefore measured first, without recursion, by a scan over the raw text that counts `[` and `{` outside strings.
"""

from __future__ import annotations

import json
import re

# A JSON string (an unterminated one runs to the end) or a bracket. Strings are matched whole so that brackets inside
# them are not counted; for any text `json` accepts, this splits it exactly as `json` does.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


class MessageRefused(ValueError):
    """An inbound message that is refused before any handler sees it; the text is the reply to the sender."""


def nesting_exceeds(text: str, max_depth: int) -> bool:
    """True when arrays/objects in `text` nest deeper than `max_depth` (outside strings). Never recurses."""
    if text.count("[") + text.count("{") <= max_depth:
        return False  # cannot nest deeper than the number of openers: the common case, decided without a scan
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > max_depth:
                return True
        elif token == "]" or token == "}":
            depth = max(depth - 1, 0)
    return False


def parse_message(raw: str | bytes, *, max_bytes: int, max_depth: int) -> dict:
    """The message as a dict with a string "type"; raises MessageRefused with the reason otherwise."""
    if len(raw) > max_bytes:  # a str has at least as many UTF-8 bytes as characters
        raise MessageRefused(f"message too large (limit {max_bytes} bytes)")
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", "replace")
    else:
        text = raw
        if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
            raise MessageRefused(f"message too large (limit {max_bytes} bytes)")
    if nesting_exceeds(text, max_depth):
        raise MessageRefused(f"message nested too deeply (limit {max_depth} levels)")
    try:
        data = json.loads(text)
    except RecursionError:  # only if an operator set a depth limit beyond what the interpreter's stack allows
        raise MessageRefused(f"message nested too deeply (limit {max_depth} levels)") from None
    except ValueError:
        raise MessageRefused("malformed JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MessageRefused("a message needs a string 'type'")
    return data
