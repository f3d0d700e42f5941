"""The language a page is written in.

nb (bokmål) and nn (nynorsk) are the two written forms of Norwegian; a public
service offers both, and English beside them.
"""

from __future__ import annotations

from flask import current_app, g, request

LANGUAGE_COOKIE = "lang"  # the citizen's own choice of language, set by the language switch
NORWEGIAN_MACROLANGUAGE = {"no": "nb"}
# Each language's name in itself, for the language switch.
LANGUAGE_NAMES = {"nb": "Bokmål", "nn": "Nynorsk", "en": "English"}
# A hostile ui_locales can hold thousands of tags; a real one names a few.
MAX_UI_LOCALES = 10


def select_locale() -> str:
    """The page's language: the service's ``ui_locales``, the citizen's own choice, the browser's, the default.

    ``ui_locales`` (OIDC Core §3.1.2.1) comes from this request or from the login transaction
    a page loaded; a choice the citizen makes during that login replaces it there
    (:func:`idp.web.pages.language`), so the switch works mid-login too.
    """
    i18n = current_app.config["IDP"].i18n
    for wanted in (request.values.get("ui_locales") or g.get("ui_locales") or "").split()[:MAX_UI_LOCALES]:
        if (locale := supported_locale(wanted, i18n.locales)) is not None:
            return locale
    if (locale := supported_locale(request.cookies.get(LANGUAGE_COOKIE, ""), i18n.locales)) is not None:
        return locale
    for wanted, _quality in request.accept_languages:
        if (locale := supported_locale(wanted, i18n.locales)) is not None:
            return locale
    return i18n.default_locale


def supported_locale(tag: str, locales: tuple[str, ...]) -> str | None:
    """The locale of ours a BCP 47 language tag asks for, or None.

    Only the primary subtag counts ("nn-NO" is nynorsk). The macrolanguage "no" is
    written as bokmål unless nynorsk is asked for by name.
    """
    primary = tag.split("-")[0].split("_")[0].lower()
    primary = NORWEGIAN_MACROLANGUAGE.get(primary, primary)
    return primary if primary in locales else None
