"""Translation prompts shared by the translate, corpus, train and eval stages.

The same template must be used to build the translator's training examples (corpus stage) and to query it
(translate / eval stages), so templates live here, identified by id, and the id is recorded in provenance.

Two kinds:
* `chat` — one user turn "<instruction>\n<text>" rendered with the model's chat template; the default `hala`
  template mirrors the Hala translator ("Translate everything that follows into Arabic:" + text).
* `plain` — a chat template id whose user turn is the completion line `"English: <text>\nArabic:"`; rendered by
  hala's `plain_chat_template.jinja` (no turn markers), it is the zero-shot line format of a base model, learnt
  with an end-of-sequence token (for students fine-tuned from base models).
* `completion` — a plain few-shot prompt for base models that follow no instructions
  ("English: ...\nArabic: ..." lines); generation stops at the end of the line.
  (Measured on the embedded Gemma-3-270M base: 3-shot plain 17.6 chrF++ vs 0.7 with the chat-style prompt.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hala.errors import ConfigError

LANGUAGE_NAMES = {
    "ar": "Arabic",
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "tr": "Turkish",
    "fa": "Persian",
    "ur": "Urdu",
    "hi": "Hindi",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ru": "Russian",
    "id": "Indonesian",
    "sw": "Swahili",
    "he": "Hebrew",
    "nl": "Dutch",
    "pl": "Polish",
    "bn": "Bengali",
    "ms": "Malay",
    "vi": "Vietnamese",
    "th": "Thai",
}

# Hand-written, checked translations for few-shot prompting of base models (en<->ar).
FEW_SHOT_EXAMPLES: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("en", "ar"): [
        ("The weather is nice today.", "الطقس جميل اليوم."),
        ("Where is the nearest hospital?", "أين أقرب مستشفى؟"),
        ("Please save your work before closing the program.", "يرجى حفظ عملك قبل إغلاق البرنامج."),
    ],
}


# Examples that carry numbered placeholders ([1], [2]: where the translate stage hid code, math or URLs). A base
# model shown one such pair keeps the placeholders far more often (measured on Gemma-3-270M: see docs/TRANSLATE.md).
# It also copies their number, inventing a [2] after seeing two, so the translate stage shows the example whose
# placeholder count is closest to the segment's: hence one example per count.
PLACEHOLDER_EXAMPLES: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("en", "ar"): [
        ("Use [1] to list the files in [2].", "استخدم [1] لعرض الملفات في [2]."),
        ("Open [1] before you start.", "افتح [1] قبل أن تبدأ."),
        ("Save it as [1], then run [2] to print [3].", "احفظه باسم [1]، ثم شغّل [2] لطباعة [3]."),
    ],
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code.lower(), code)


def _examples(
    table: dict[tuple[str, str], list[tuple[str, str]]], src_lang: str, tgt_lang: str
) -> list[tuple[str, str]]:
    if (src_lang, tgt_lang) in table:
        return table[(src_lang, tgt_lang)]
    if (tgt_lang, src_lang) in table:
        return [(b, a) for a, b in table[(tgt_lang, src_lang)]]
    return []


def few_shot_examples(src_lang: str, tgt_lang: str) -> list[tuple[str, str]]:
    return _examples(FEW_SHOT_EXAMPLES, src_lang, tgt_lang)


def placeholder_examples(src_lang: str, tgt_lang: str) -> list[tuple[str, str]]:
    return _examples(PLACEHOLDER_EXAMPLES, src_lang, tgt_lang)


@dataclass(frozen=True)
class PromptTemplate:
    id: str
    kind: str  # "chat" or "completion"
    instruction: str = "Translate everything that follows into {tgt}:"
    shots: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)
    # A chat template whose user turn is not "<instruction>\n<text>": `{src}`, `{tgt}` (language names), `{text}`.
    user_format: str | None = None

    def chat_messages(self, text: str, src_lang: str, tgt_lang: str) -> list[dict]:
        src, tgt = language_name(src_lang), language_name(tgt_lang)
        if self.user_format is not None:
            return [{"role": "user", "content": self.user_format.format(src=src, tgt=tgt, text=text)}]
        instruction = self.instruction.format(src=src, tgt=tgt)
        return [{"role": "user", "content": f"{instruction}\n{text}"}]

    def completion(self, text: str, src_lang: str, tgt_lang: str, examples: list[tuple[str, str]] | None = None) -> str:
        src, tgt = language_name(src_lang), language_name(tgt_lang)
        shots = (examples if examples is not None else few_shot_examples(src_lang, tgt_lang))[: self.shots]
        lines = [f"{src}: {a}\n{tgt}: {b}\n" for a, b in shots]
        return "".join(lines) + f"{src}: {text}\n{tgt}:"


TEMPLATES: dict[str, PromptTemplate] = {
    t.id: t
    for t in [
        PromptTemplate("hala", "chat"),
        # The base model's own few-shot line format with no shots, as a chat turn: with the shipped
        # plain_chat_template.jinja the model sees "<bos>English: ...\nArabic:" and answers " ...<eos>". A small
        # fine-tune from a base model shifts it less than the chat-turn format (the student of recipes/laptop.yaml).
        PromptTemplate("plain", "chat", user_format="{src}: {text}\n{tgt}:"),
        PromptTemplate("few-shot", "completion", shots=3, stop=("\n",)),
        PromptTemplate("zero-shot", "completion", shots=0, stop=("\n",)),
    ]
}


def get_template(template_id: str) -> PromptTemplate:
    if template_id not in TEMPLATES:
        raise ConfigError(f"unknown prompt template '{template_id}'; known: {', '.join(TEMPLATES)}")
    return TEMPLATES[template_id]


def translation_messages(text: str, src_lang: str, tgt_lang: str, template_id: str = "hala") -> list[dict]:
    """The user turn that asks a chat model to translate `text` (used for training examples and inference)."""
    return get_template(template_id).chat_messages(text, src_lang, tgt_lang)
