"""The multilingual intent pipeline: message text → :class:`intents.types.IntentResult`.

Stages (all in memory, no I/O after :meth:`IntentPipeline.load`): normalise and scan (names, numbers,
receipts) → detect the language → classify the masked text with the trained spaCy textcat → extract the
entities the intent needs → gate on confidence and safety. ``aclassify`` may additionally ask an optional
LLM about low-confidence messages; its answer goes through the same entity rules and gating.

Hostile input must not be able to stall the server: every entry point reads at most ``max_chars``
characters (:mod:`intents.clip`), and ``aclassify`` runs texts of ``offload_chars`` or more off the event
loop (:mod:`intents.offload`: a child process by default). Shorter texts cost less inline (about 2 ms at
200 characters) than a round trip to the child (about 1 ms plus the wait), so they stay on the loop.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal, Sequence

import structlog

from intents.clip import MAX_CHARS, clip
from intents.entities import EntityExtractor
from intents.features import Analysed, analyse
from intents.fuzzy import FuzzyIndex
from intents.gating import VETOABLE, GatePolicy, decide
from intents.langid import LanguageIdentifier
from intents.lexicon import DATA_DIR, Lexicon
from intents.offload import ProcessOffload, ThreadOffload
from intents.scan import Scanner
from intents.text import mentions
from intents.topics import TIPS, TopicIndex
from intents.types import INTENTS, Entities, IntentResult
from intents import model as M

if TYPE_CHECKING:
    from intents.llm import LLMFallback

log = structlog.get_logger(__name__)

#: ``aclassify`` runs texts at least this long off the event loop (see the module docstring).
OFFLOAD_CHARS = 200
Offload = Literal["process", "thread", "inline"]


class IntentPipeline:
    def __init__(self, *, nlp: Any, lexicon: Lexicon, vocabulary: Iterable[str],
                 langid_counts: dict[str, dict[str, int]], memory: dict[str, str],
                 llm: LLMFallback | None = None, policy: GatePolicy = GatePolicy(),
                 model_dir: Path | None = None, markers: dict[str, list[str]] | None = None,
                 topics: TopicIndex | None = None, data_dir: Path | None = None,
                 max_chars: int | None = MAX_CHARS, offload: Offload = "process",
                 offload_chars: int = OFFLOAD_CHARS, fuzzy: FuzzyIndex | None = None) -> None:
        """``max_chars`` None reads whole texts, and ``offload="inline"`` classifies on the caller's thread:
        both only for measuring what they protect against. A process needs ``model_dir`` and ``data_dir``
        (the child loads the same model, as :meth:`load` does); without them texts go to a thread."""
        self._nlp = nlp
        self._textcat = nlp.get_pipe("textcat") if nlp is not None else None
        self._nlp_path: Path | None = None     # set by load(): the model is read on its first use
        self.tokenizers = M.make_tokenizers()
        self.lexicon = lexicon
        self.scanner = Scanner(lexicon, fuzzy if fuzzy is not None
                               else FuzzyIndex(lexicon.fuzzy_names(), vocabulary=vocabulary))
        self.extractor = EntityExtractor(lexicon, markers)
        self.langid = LanguageIdentifier(langid_counts, lexicon.markers)
        self.memory = memory
        self.llm = llm
        self.policy = policy
        self.model_dir = model_dir
        self.veto = lexicon.word_set("veto_objects") | lexicon.word_set("product_words")
        self.foreign = lexicon.word_set("foreign_services")
        self.trade_words = (lexicon.word_set("share_nouns") | lexicon.word_set("price_markers")
                            | lexicon.word_set("stock_context"))
        self._topics = topics       # the lesson keywords (12 locale files): read on the first education
        self.data_dir = data_dir
        self.max_chars = max_chars
        self.offload_chars = offload_chars
        self.offload: ProcessOffload | ThreadOffload | None = None
        if offload != "inline":
            thread = ThreadOffload(self.classify)
            self.offload = thread
            if offload == "process" and model_dir is not None and data_dir is not None:
                self.offload = ProcessOffload(self, fallback=thread)

    # ----------------------------------------------------------------------------------------- loading
    @classmethod
    def load(cls, *, llm: LLMFallback | None = None, model_dir: Path | None = None,
             data_dir: Path = DATA_DIR, retrain: bool = False, **options: Any) -> IntentPipeline:
        """Load the cached model; train it first (deterministically, offline) when it is missing.
        ``options``: ``max_chars``, ``offload``, ``offload_chars`` (see the constructor)."""
        key = M.data_hash(data_dir)
        target = Path(model_dir) if model_dir else M.default_model_dir(key)
        meta_path = target / "meta.json"
        meta = M.load_meta(meta_path) if meta_path.exists() else None
        if retrain or meta is None or meta.get("key") != key:
            why = ("a retrain was asked for" if retrain else f"no trained model in {target}" if meta is None
                   else f"the training data or code changed (model {meta.get('key')}, data {key})")
            log.warning("intents.training", reason=why)
            print(f"gridworks: training the intent model because {why}; this takes about a minute once "
                  f"(`gridworks intents train` builds it ahead, e.g. at image build)", file=sys.stderr, flush=True)
            M.train_into(target, data_dir=data_dir)
            meta = M.load_meta(meta_path)
            if model_dir is None:
                M.prune_cache(target)
        lexicon, fuzzy = M.cached_lexicon(target, data_dir, meta["vocabulary"])
        pipeline = cls(nlp=None, lexicon=lexicon, fuzzy=fuzzy, vocabulary=meta["vocabulary"],
                       langid_counts=meta["langid"], memory=meta["memory"], llm=llm, model_dir=target,
                       markers=meta.get("markers"), data_dir=Path(data_dir), **options)
        if meta.get("trained"):
            pipeline._nlp_path = target / "textcat"
        return pipeline

    @property
    def nlp(self) -> Any:
        """The trained spaCy pipeline, loaded on first use: a message the exact-phrase memory answers
        ("hi", "portfolio") needs no model, so a cold ``intents classify "hi"`` never imports spaCy."""
        if self._nlp is None and self._nlp_path is not None:
            import spacy

            import intents.textcat_arch  # noqa: F401 - registers the architecture before spacy.load

            self._nlp = spacy.load(self._nlp_path)
            self._textcat = self._nlp.get_pipe("textcat")
            self._nlp_path = None
        return self._nlp

    @property
    def topics(self) -> TopicIndex:
        if self._topics is None:
            self._topics = TopicIndex.load()
        return self._topics

    @property
    def textcat(self) -> Any:
        if self._textcat is None and self._nlp_path is not None:
            self.nlp  # noqa: B018 - loads it
        return self._textcat

    def close(self) -> None:
        """Stop the off-loop classifier (its child process, if one was started)."""
        if self.offload is not None:
            self.offload.close()

    # ------------------------------------------------------------------------------------ classifying
    def _scores(self, masked: str, lang: str) -> list[tuple[str, float]]:
        remembered = self.memory.get(masked)
        if remembered in INTENTS:
            return [(remembered, 0.99)]   # the memory decides anyway (see _result): the model is not needed
        if self.textcat is None:
            return [("out_of_scope", 0.0)]
        doc = self.tokenizers.get(lang, self.nlp.tokenizer)(masked)
        doc = self.textcat(doc)
        return sorted(doc.cats.items(), key=lambda kv: (-kv[1], kv[0]))

    def _result(self, a: Analysed, lang: str, ranked: list[tuple[str, float]], source: str = "model") -> IntentResult:
        intent, confidence = ranked[0]
        remembered = self.memory.get(a.masked)
        if remembered is not None and remembered in INTENTS:
            if remembered != intent:
                ranked = [(remembered, max(confidence, 0.99))] + [kv for kv in ranked if kv[0] != remembered]
            else:
                ranked = [(intent, max(confidence, 0.99))] + ranked[1:]
            intent, confidence = ranked[0]
            source = "memory" if source == "model" else source
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if a.receipt:
            # A receipt id ("R-3fa9c2") is only ever sent to have it verified.
            confidence = max(confidence, 0.9)
            ranked = [("verify_receipt", confidence)] + [kv for kv in ranked if kv[0] != "verify_receipt"]
            intent = "verify_receipt"
            source = "rules"
        entities = self.extractor.extract(intent, a.toks, a.spans)
        if intent == "verify_receipt" and a.receipt:
            entities = replace(entities, receipt=a.receipt)
        topic = self.topics.find(a.toks) if intent == "education" else None
        if topic is not None and topic != TIPS:
            entities = replace(entities, topic=topic)
        veto_toks = _outside_names(a, self.trade_words) if intent in VETOABLE else None
        decision = decide(intent=intent, confidence=confidence, runner_up=runner_up, entities=entities,
                          toks=a.toks, veto_objects=self.veto, policy=self.policy, source=source,
                          has_language_name=any(sp.kind == "lang" for sp in a.spans),
                          foreign=mentions(a.toks if veto_toks is None else veto_toks, self.foreign),
                          has_topic=topic is not None, veto_toks=veto_toks)
        alternatives = ranked[1:4]
        if entities.unlisted and decision.source == "rules" and decision.intent == "price_quote":
            intent = decision.intent    # not listed on NSE: answered as a quote request, never a trade
        if decision.intent != intent:
            if decision.source == "rules":
                entities = Entities()  # vetoed: nothing here is about securities
            # Out of scope by gating: offer the model's likeliest in-scope meanings for "Did you mean …?"
            # (the entities of the best guess stay, so a clarified choice can use them).
            alternatives = [kv for kv in ranked if kv[0] != "out_of_scope"][:3]
        alternatives = _trade_only(decision.intent, alternatives, entities)
        return IntentResult(intent=decision.intent, confidence=float(confidence), lang=lang, entities=entities,
                            alternatives=tuple((k, round(float(v), 4)) for k, v in alternatives),
                            clarify=decision.clarify, source=decision.source)

    def classify(self, text: str, *, lang_hint: str | None = None) -> IntentResult:
        """Pure and in-memory: the intent, entities, language and gating for one message (its first
        ``max_chars`` characters)."""
        a = analyse(clip(text or "", self.max_chars), self.scanner)
        lang = self.langid.identify(a.normalized, a.toks, hint=lang_hint)
        if not a.toks:
            return IntentResult(intent="out_of_scope", confidence=0.0, lang=lang, clarify=True, source="rules")
        return self._result(a, lang, self._scores(a.masked, lang))


    def classify_many(self, texts: Sequence[str], *, lang_hint: str | None = None) -> list[IntentResult]:
        """Batched classification (the textcat scores a batch at once)."""
        analysed = [analyse(clip(t or "", self.max_chars), self.scanner) for t in texts]
        langs = [self.langid.identify(a.normalized, a.toks, hint=lang_hint) for a in analysed]
        if self.textcat is None:
            return [self.classify(t, lang_hint=lang_hint) for t in texts]
        docs = [self.tokenizers.get(lang, self.nlp.tokenizer)(a.masked) for a, lang in zip(analysed, langs)]
        out: list[IntentResult] = []
        for a, lang, doc in zip(analysed, langs, self.textcat.pipe(docs, batch_size=256)):
            if not a.toks:
                out.append(IntentResult(intent="out_of_scope", confidence=0.0, lang=lang, clarify=True,
                                        source="rules"))
                continue
            remembered = self.memory.get(a.masked)
            ranked = ([(remembered, 0.99)] if remembered in INTENTS
                      else sorted(doc.cats.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(self._result(a, lang, ranked))
        return out

    async def aclassify(self, text: str, *, lang_hint: str | None = None) -> IntentResult:
        """``classify`` (off the event loop for long texts), then the optional LLM for low-confidence
        results (its errors keep our result)."""
        text = clip(text or "", self.max_chars)
        long = self.offload is not None and len(text) >= self.offload_chars
        if long:
            result = await self.offload.classify(text, lang_hint=lang_hint)  # type: ignore[union-attr]
        else:
            result = self.classify(text, lang_hint=lang_hint)
        unsure = result.clarify or result.confidence < self.policy.llm_below
        if self.llm is None or not unsure or result.source == "rules" or _digits_only(text):
            return result
        answer = await self.llm.classify(text, lang=result.lang, candidates=[result.intent] +
                                         [k for k, _ in result.alternatives])
        if answer is None:
            return result
        a = await asyncio.to_thread(analyse, text, self.scanner) if long else analyse(text, self.scanner)
        ranked = [(answer.intent, answer.confidence)] + [kv for kv in result.alternatives if kv[0] != answer.intent]
        merged = self._result(a, result.lang, ranked, source="llm")
        entities = _fill(merged.entities, answer.entities, a)
        if merged.intent != answer.intent:
            return merged
        decision = decide(intent=merged.intent, confidence=merged.confidence,
                          runner_up=ranked[1][1] if len(ranked) > 1 else 0.0, entities=entities, toks=a.toks,
                          veto_objects=self.veto, policy=self.policy, source="llm",
                          has_language_name=any(sp.kind == "lang" for sp in a.spans),
                          foreign=mentions(a.toks, self.foreign))
        return replace(merged, entities=entities, clarify=decision.clarify)


_SIDES = ("buy", "sell")


def _trade_only(intent: str, alternatives: list[tuple[str, float]], entities: Entities) -> list[tuple[str, float]]:
    """"buy 5", "5 खरीदो": a trade that only lacks its stock is asked back as that trade ("Did you mean: Buy
    shares?"), never offered a meaning the words do not carry ("My funds", "Yes, go ahead", the other side)."""
    lead = intent if intent != "out_of_scope" else next((k for k, _ in alternatives), None)
    if lead not in _SIDES or entities.symbol is not None:
        return alternatives
    return [kv for kv in alternatives if kv[0] == lead]


def _outside_names(a: Analysed, trade_words: frozenset[str]) -> list[str]:
    """The words the veto and other-app rules read: outside company names when the message speaks of shares
    (a number, a share noun, a price or stock word: "buy 10 zomato", "zomato ka bhav"), else all of them
    ("मीशो पार्सल कहाँ" is about a parcel)."""
    if not any(sp.kind == "num" for sp in a.spans) and not any(t in trade_words for t in a.toks):
        return a.toks
    inside = {k for sp in a.spans if sp.kind in ("sym", "amb", "ext") for k in range(sp.start, sp.end)}
    return [t for k, t in enumerate(a.toks) if k not in inside]


def _fill(ours: Entities, theirs: Entities, a: Analysed) -> Entities:
    """Our rule-extracted entities win. The LLM may only fill gaps with what the message itself holds: a
    number that is in the text, a symbol among the candidates we found — never an invented quantity,
    price or company."""
    numbers = {float(sp.value) for sp in a.spans if sp.kind == "num"}
    updates: dict[str, Any] = {}
    for name in ("quantity", "price", "trigger_price", "amount"):
        value = getattr(theirs, name)
        if getattr(ours, name) is None and value is not None and float(value) in numbers:
            updates[name] = value
    for name in ("product", "language", "topic"):
        if getattr(ours, name) is None and getattr(theirs, name) is not None:
            updates[name] = getattr(theirs, name)
    if ours.symbol is None and theirs.symbol is not None and theirs.symbol in ours.symbol_candidates:
        updates["symbol"] = theirs.symbol
        updates["symbol_candidates"] = ()
    return replace(ours, **updates) if updates else ours


def _digits_only(text: str) -> bool:
    """A message of digits (in any script) and spaces only: it may be the user's trading PIN, so it never goes
    to an outside LLM -- and a bare number holds no intent the LLM could add."""
    compact = "".join(text.split())
    return compact.isdigit()
