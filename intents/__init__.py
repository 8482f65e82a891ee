"""楼栋群助手's ear: a keyword intent engine for residents' messages in building group chats.

    from intents import classify
    result = classify("2单元楼道灯坏了好几天了")
    result.intent, result.confidence, result.places.unit   # Intent.REPAIR, 0.9.., "2单元"

The intents and what each means are the table in DESIGN.md. The lexicon is data (intents/lexicon.toml);
a community layers its own file on it with `IntentEngine.load(extra_lexicon_paths=[...])`.
"""

from intents import native as _native

# The hot-path modules compiled by mypyc when a build matching their sources exists, else the pure-Python
# modules (`intents.native`); IMPLEMENTATION says which ("compiled" or "pure"), SELECTION why.
SELECTION = _native.select(__path__)
try:
    from intents.engine import IntentEngine, classify, default_engine
except Exception as exc:  # an extension module of the build that will not load: the pure modules instead
    if SELECTION.implementation != _native.COMPILED:
        raise
    SELECTION = _native.unselect(__path__, exc)
    from intents.engine import IntentEngine, classify, default_engine
IMPLEMENTATION = SELECTION.implementation

from intents.lexicon import DEFAULT_LEXICON_PATH, Lexicon, LexiconError, load_lexicon  # noqa: E402
from intents.model import (  # noqa: E402
    QUIET_INTENTS,
    TICKET_INTENTS,
    Classification,
    HitState,
    Intent,
    KeywordHit,
    Places,
    Role,
)
from intents.normalize import normalize  # noqa: E402
from intents.places import extract_places  # noqa: E402

__all__ = [
    "DEFAULT_LEXICON_PATH",
    "IMPLEMENTATION",
    "QUIET_INTENTS",
    "TICKET_INTENTS",
    "Classification",
    "HitState",
    "Intent",
    "IntentEngine",
    "KeywordHit",
    "Lexicon",
    "LexiconError",
    "Places",
    "Role",
    "classify",
    "default_engine",
    "extract_places",
    "load_lexicon",
    "normalize",
]
