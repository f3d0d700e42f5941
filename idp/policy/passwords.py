"""Whether a password a citizen chooses is good enough, and why not: the rules of ``[passwords]``.

Strength is zxcvbn's estimate (Dropbox's, kept as the ``zxcvbn`` package): it knows keyboard
patterns, dates, sequences, repeats, names and a frequency list of passwords from public
breaches, and needs no network. A password that *is* one of those leaked passwords is refused
whatever its score, as NIST SP 800-63B 5.1.1.2 asks. The citizen's own number, names and phone
count as known words, so "Kari1990" for Kari born in 1990 scores low.

The answer is a score (the meter's 0-4) and problem names; the pages word them in the
citizen's language, since zxcvbn's own feedback is English only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from zxcvbn import zxcvbn

from idp.config import PasswordsConfig

# zxcvbn is slow on long input and the tail adds nothing to its estimate.
_ESTIMATE_CHARS = 100


@dataclass(frozen=True)
class Assessment:
    """``problems``: too_short, too_long, leaked, personal (weak through the citizen's own data), weak."""

    score: int  # 0 (guessed at once) .. 4 (very hard to guess)
    problems: tuple[str, ...]

    @property
    def acceptable(self) -> bool:
        return not self.problems


def assess(config: PasswordsConfig, password: str, *, personal: Iterable[str] = ()) -> Assessment:
    """The score and what is wrong with ``password`` as a new password; ``personal``: the citizen's own data."""
    if len(password) > config.max_length:
        return Assessment(0, ("too_long",))
    words = [word for word in personal if word]
    result = zxcvbn(password[:_ESTIMATE_CHARS], user_inputs=words)
    score = int(result["score"])
    problems: list[str] = []
    if len(password) < config.min_length:
        problems.append("too_short")
    matches = result["sequence"]
    whole = matches[0] if len(matches) == 1 and matches[0]["token"] == password[:_ESTIMATE_CHARS] else None
    if whole is not None and whole.get("pattern") == "dictionary" and whole.get("dictionary_name") == "passwords":
        problems.append("leaked")
    if score < config.min_strength and "leaked" not in problems:
        # Say why when the citizen's own data is what made it easy to guess.
        personal_match = any(match.get("dictionary_name") == "user_inputs" for match in matches)
        problems.append("personal" if personal_match else "weak")
    return Assessment(score, tuple(problems))
