"""Education topics: which lesson of the knowledge base a question is about.

The lessons and the words that find them belong to the education feature (``locales/<lang>/education.toml``,
``[topic.<id>] kw = "a|b|c"`` and ``tips_kw``); reading the same files keeps the pipeline's ``topic`` ids
identical to the handler's. Keywords are compared in our normalised form, as whole-word phrases.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from intents.text import tokenize

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
TIPS = "tips"


class TopicIndex:
    def __init__(self, keywords: dict[tuple[str, ...], str]) -> None:
        self.keywords = keywords
        self.max_len = max((len(k) for k in keywords), default=0)

    @classmethod
    def load(cls, locales_dir: Path = LOCALES_DIR) -> TopicIndex:
        keywords: dict[tuple[str, ...], str] = {}
        for path in sorted(locales_dir.glob("*/education.toml")):
            try:
                doc = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                continue
            entries = [(TIPS, doc.get("tips_kw", ""))]
            entries += [(tid, t.get("kw", "")) for tid, t in (doc.get("topic") or {}).items() if isinstance(t, dict)]
            for topic, raw in entries:
                for kw in str(raw).split("|"):
                    key = tuple(tokenize(kw))
                    if key:
                        keywords.setdefault(key, topic)
        return cls(keywords)

    def find(self, toks: list[str]) -> str | None:
        """The topic of the longest keyword phrase in the message (tips requests included as ``tips``)."""
        best: tuple[int, str] | None = None
        for i in range(len(toks)):
            for size in range(min(self.max_len, len(toks) - i), 0, -1):
                topic = self.keywords.get(tuple(toks[i:i + size]))
                if topic is not None:
                    if best is None or size > best[0]:
                        best = (size, topic)
                    break
        return best[1] if best else None
