"""Prompt formats for log-likelihood multiple choice, following lighteval's OALL-v2 Arabic tasks.

lighteval's `community_tasks/arabic_evals.py` (the code behind the Open Arabic LLM Leaderboard v2) writes each
benchmark's prompt as: an instruction, the question, the listed choices, and the answer prefix "الإجابة:". What is
scored is the continuation right after that prefix — with no space in between — which is the choice's label
(Arabic letters أ ب ج د for ArabicMMLU / Arabic MMLU MT / EXAMS / AraTrust, numbers 1..n for ArabicMMLU-HT) or
the choice's text (AlGhafa, MadinahQA, ACVA). Few-shot prompts put the instruction once at the top, then the
shots (question + gold continuation) and the question, separated by blank lines, as lighteval's PromptManager
does. `mmlu_en` is lm-evaluation-harness's English MMLU prompt (" A" … " D": the continuation starts with a space).
"""

from __future__ import annotations

from dataclasses import dataclass

from hala.errors import ConfigError
from hala.evaluate.loaders import ARABIC_LETTERS, LATIN, MCQItem

INSTRUCTION_MCQ = "السؤال التالي هو سؤال متعدد الإختيارات. اختر الإجابة الصحيحة:\n\n"


@dataclass(frozen=True)
class PromptFormat:
    name: str
    instruction: str = ""  # may use {subject}
    question: str = "{question}\n"
    choice: str | None = "{label}. {choice}\n"  # None: the choices are not listed (they are the continuations)
    choice_sep: str = ""
    answer: str = "الإجابة:"
    labels: str = "arabic"  # arabic | latin | index0 | index1
    target: str = "label"  # the continuation scored: the choice's label, or its text
    target_prefix: str = ""  # lm-eval's target_delimiter for English prompts

    def label(self, i: int) -> str:
        return {
            "arabic": ARABIC_LETTERS[i] if i < len(ARABIC_LETTERS) else str(i + 1),
            "latin": LATIN[i],
            "index0": str(i),
            "index1": str(i + 1),
        }[self.labels]


FORMATS = {
    f.name: f
    for f in [
        PromptFormat("arabic_mmlu", INSTRUCTION_MCQ),
        PromptFormat(
            "arabic_mmlu_mt", "السؤال التالي هو سؤال متعدد الإختيارات. اختر الإجابة الصحيحة: أ، ب، ج، أو د... إلخ. \n\n"
        ),
        PromptFormat("arabic_mmlu_ht", INSTRUCTION_MCQ, labels="index1"),
        PromptFormat("madinah_qa", INSTRUCTION_MCQ, target="text"),
        PromptFormat(
            "exams",
            "الأسئلة التالية هي أسئلة متعددة الإختيارات مع الجواب الصحيح حول {subject}. \n\n",
            question="السؤال: {question}\n",
            choice=" {label}) {choice}\n",
            choice_sep="\n",
            answer="\nالإجابة:",
        ),
        PromptFormat(
            "alghafa",
            "الأسئلة التالية هي أسئلة متعددة الإختيارات مع الجواب الصحيح\n\n",
            question="السؤال: {question}\n",
            choice="{label}) {choice}\n",
            labels="index0",
            target="text",
        ),
        PromptFormat(
            "aratrust",
            "السؤال التالي هو سؤال متعدد الإختيارات. اختر الإجابة الصحيحة: أ، ب أو ج. \n\n",
            choice="{choice}\n",
        ),
        PromptFormat("acva", question="السؤال: {question}\n", choice=None, target="text"),
        PromptFormat(
            "mmlu_en",
            "The following are multiple choice questions (with answers) about {subject}.\n\n",
            answer="Answer:",
            labels="latin",
            target_prefix=" ",
        ),
        # Cloze: the choices are not listed and each choice's text is scored after "الإجابة:" + " " (lm-eval's ARC
        # layout, lighteval's CF formulation). Small models that only echo a letter prior under letter labels show
        # knowledge here (docs/EVAL.md: the embedded Gemma-3-270M picks أ for all 150 mcq-ar questions with letters).
        PromptFormat("cloze_ar", question="السؤال: {question}\n", choice=None, target="text", target_prefix=" "),
    ]
}

# The format a file's layout is written for, when a task does not name one.
DEFAULT_FORMAT = {
    "yes_no": "acva",
    "alghafa": "alghafa",
    "arabic_mmlu": "arabic_mmlu",
    "exams": "exams",
    "aratrust": "aratrust",
}
FALLBACK_FORMAT = "arabic_mmlu_mt"


def get_format(name: str) -> PromptFormat:
    if name not in FORMATS:
        raise ConfigError(f"unknown prompt format '{name}' (known: {', '.join(FORMATS)})")
    return FORMATS[name]


@dataclass
class Doc:
    """One rendered question: the instruction, the query (question + choices + answer prefix) and continuations."""

    instruction: str
    query: str
    continuations: list[str]
    gold: int
    item: MCQItem


def render(fmt: PromptFormat, item: MCQItem) -> Doc:
    listed = ""
    if fmt.choice is not None:
        listed = fmt.choice_sep.join(
            fmt.choice.format(label=fmt.label(i), choice=c) for i, c in enumerate(item.choices)
        )
    query = fmt.question.format(question=item.question) + listed + fmt.answer
    targets = [fmt.label(i) if fmt.target == "label" else c for i, c in enumerate(item.choices)]
    instruction = fmt.instruction.format(subject=item.subset.replace("_", " "))
    return Doc(instruction, query, [fmt.target_prefix + t for t in targets], item.answer, item)


def context(doc: Doc, shots: list[Doc]) -> str:
    """The full prompt: instruction once, then each shot with its gold continuation, then the query."""
    return doc.instruction + "\n\n".join([s.query + s.continuations[s.gold] for s in shots] + [doc.query])
