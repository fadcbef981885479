"""Caps on text that reaches a report: whatever the child sends is cut to a bounded size."""

MESSAGE_CHARS = 4 * 2**10  # one message, traceback or value description from the child
OUTPUT_CHARS = 16 * 2**10  # one test's output
PROBLEMS = 20  # notebook-wide notes kept in a report

# Control characters (terminal escapes such as ESC[2J, carriage returns, DEL and the C1 set) and
# the bidirectional overrides that reorder text on screen: a student's message could otherwise
# redraw the staff's terminal or disguise what a report says. Also the invisible and
# direction marks (zero-width characters, LRM/RLM, ALM, the byte-order mark) and the Unicode
# line and paragraph separators, which start a new line in some viewers. Tab and newline are kept.
_CONTROLS = {c: "\N{REPLACEMENT CHARACTER}" for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0),
                                                  0x061C, *range(0x200B, 0x2010), 0x2028, 0x2029,
                                                  *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF]}


def clip(text, limit=MESSAGE_CHARS):
    """`text` as a str of at most about `limit` characters, with a note of what was cut, and no control characters."""
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:  # a str() that fails is no message at all
            text = "<unprintable>"
    if len(text) <= limit:
        return text.translate(_CONTROLS)
    cut = len(text) - limit
    return f"{text[:limit].translate(_CONTROLS)}\n[... {cut:,} characters cut]"


def clip_list(items, limit=PROBLEMS, chars=MESSAGE_CHARS):
    """At most `limit` clipped strings, with a last one saying how many were left out."""
    items = list(items)
    kept = [clip(item, chars) for item in items[:limit]]
    if len(items) > limit:
        kept.append(f"[... {len(items) - limit:,} more left out]")
    return kept
