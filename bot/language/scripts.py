"""Writing systems whose words are not set apart by spaces, shared by the FAQ's lexicon and crisis phrases and the
spam rules: a word or phrase in them is looked for inside longer runs of letters, not only as a whole word."""

from __future__ import annotations

import re

__all__ = ["INSIDE_WORDS"]

# Japanese, Chinese and Thai, and Korean, whose particles attach to the noun before them (케타민을, 케타민은).
# Hangul appears twice: as syllables, and as the letters (jamo) they fold to.
INSIDE_WORDS = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
                          r"\uf900-\ufaff\u0e00-\u0e7f]")
