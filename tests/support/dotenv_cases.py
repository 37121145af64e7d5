"""Values for to_dotenv tests: hand-picked hard cases and hypothesis strategies of carriable values."""

from __future__ import annotations

from hypothesis import strategies as st

# Each is a trap for some env-file reader: quotes, comments, "=", expansion, escapes, spaces.
HARD_VALUES = [
    "",
    "plain",
    '"double quoted"',
    "'single quoted'",
    '"unbalanced',
    "# not a comment",
    "value # trailing comment?",
    "a=b=c",
    "=leading equals",
    "$HOME ${HOME} $(id) `id`",
    "back\\slash \\n \\t \\\\",
    "  leading spaces",
    "\tleading tab",
    "inner   spaces and\ttabs x",
    "ünïcödé ✓ 🎉 中文",
    "\u00a0nbsp first",
    "\ufeffbom first",
    "\u2028line separator inside\u2029x",
    "\x0bvt \x0cff \x1bescape \x01 \x7f x",
    "export X=1",
    "x" * 1000,
]

_CARRIABLE_CHAR = st.characters(exclude_categories=["Cs"], exclude_characters="\n\r\0")
_text_values = st.text(_CARRIABLE_CHAR, max_size=40).filter(lambda value: not value[-1:].isspace())
VALUES = st.one_of(
    _text_values,
    st.sampled_from(HARD_VALUES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
)
# The prefix keeps generated names clear of PATH, HOME and HOSTNAME, which the container sets.
KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True).map(lambda name: f"T_{name}")


def expected_text(value: object) -> str:
    """What the container must see for a value to_dotenv accepted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_env0(output: bytes) -> dict[str, str]:
    """Parse `env -0` output, decoding strictly so a changed byte cannot hide."""
    pairs = (entry.decode("utf-8").split("=", 1) for entry in output.split(b"\0") if entry)
    return {key: value for key, value in pairs}
