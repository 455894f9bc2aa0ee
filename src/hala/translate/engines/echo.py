"""`echo`: an instant stand-in translator for tests and benchmarks of the translate machinery (no model).

It answers each prompt from the segment it carries (`Prompt.source`): with `script="arabic"` (the default)
Latin letters become Arabic letters and everything else (digits, placeholders such as `[1]`, punctuation,
spaces) is kept, so the output passes the placeholder check and the script guard the way a real translation
does; `script="identity"` returns the segment unchanged. Tokens are counted as whitespace-separated words and
the length-aware limit applies to them, so caps and truncation behave as with a real engine.
"""

from __future__ import annotations

from hala.errors import HalaError
from hala.translate.engines.base import Generation, GenSettings, Prompt
from hala.translate.engines.options import EchoOptions

_LATIN = "abcdefghijklmnopqrstuvwxyz"
_TO_ARABIC = str.maketrans(_LATIN + _LATIN.upper(), "ابتثجحخدذرزسشصضطظعغفقكلمنه" * 2)


class EchoEngine:
    name = "echo"

    def __init__(self, model: str = "", batch_size: int = 8, **options):
        self.options = EchoOptions(**options)

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        out = []
        for p in prompts:
            if p.source is None:
                raise HalaError("the echo engine needs prompts that carry their source segment (Prompt.source)")
            text = p.source.translate(_TO_ARABIC) if self.options.script == "arabic" else p.source
            words = text.split()
            limit = settings.limit(len(p.source.split()))
            if len(words) > limit:
                out.append(Generation(" ".join(words[:limit]), limit, True))
            else:
                out.append(Generation(text, len(words), False))
        return out
