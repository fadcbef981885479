"""Caps on text that reaches a report: whatever the child sends is cut to a bounded size."""

MESSAGE_CHARS = 4 * 2**10  # one message, traceback or value description from the child
OUTPUT_CHARS = 16 * 2**10  # one test's output
PROBLEMS = 20  # notebook-wide notes kept in a report


def clip(text, limit=MESSAGE_CHARS):
    """`text` as a str of at most about `limit` characters, with a note of what was cut."""
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:  # a str() that fails is no message at all
            text = "<unprintable>"
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"{text[:limit]}\n[... {cut:,} characters cut]"


def clip_list(items, limit=PROBLEMS, chars=MESSAGE_CHARS):
    """At most `limit` clipped strings, with a last one saying how many were left out."""
    items = list(items)
    kept = [clip(item, chars) for item in items[:limit]]
    if len(items) > limit:
        kept.append(f"[... {len(items) - limit:,} more left out]")
    return kept
