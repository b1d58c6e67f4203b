"""Student-facing messages in German and English, and the error that carries them.

Pairs type the worksheet code by hand, so most mistakes are wrong parameters.
Each message says what was expected and what to type instead. The language is
German by default, English when ``MASTERCLASS_LANG=en`` or after
:func:`set_language`.
"""

from __future__ import annotations

import os

LANGUAGES = ("de", "en")

_language: str | None = None

# One entry per situation: the German and the English text, formatted with str.format.
_MESSAGES: dict[str, dict[str, str]] = {
    "fraction_type": {
        "de": "fraction_first_block muss eine Zahl sein, du hast {value!r} eingegeben. "
        "Schreibe zum Beispiel fraction_first_block=0.3 (mit Punkt, nicht mit Komma).",
        "en": "fraction_first_block must be a number, you typed {value!r}. "
        "Write for example fraction_first_block=0.3 (with a point, not a comma).",
    },
    "fraction_range": {
        "de": "fraction_first_block muss zwischen 0 und 1 liegen (ohne 0 und 1), "
        "du hast {value!r} eingegeben. 0.3 bedeutet zum Beispiel: 30 % der Ereignisse "
        "kommen in die erste Liste.",
        "en": "fraction_first_block must lie between 0 and 1 (not 0 or 1 itself), "
        "you typed {value!r}. For example, 0.3 means: 30 % of the events go into the "
        "first list.",
    },
    "split_too_small": {
        "de": "Mit fraction_first_block={value!r} bleibt bei {count} Ereignissen eine der "
        "beiden Listen leer. Wähle einen Wert näher an 0.5.",
        "en": "With fraction_first_block={value!r} and {count} events, one of the two "
        "lists would be empty. Choose a value closer to 0.5.",
    },
    "factor_shape": {
        "de": "Der Faktor für augment_events muss eine ganze Zahl sein oder eine Liste mit "
        "4 ganzen Zahlen [q, e, m, t] (oder 3 Zahlen nur für die Leptonen [e, m, t]). "
        "Du hast {value!r} eingegeben. Beispiel: augment_events(eventliste, [3, 60, 60, 60])",
        "en": "The factor for augment_events must be a whole number, or a list of "
        "4 whole numbers [q, e, m, t] (or 3 numbers for the leptons only [e, m, t]). "
        "You typed {value!r}. Example: augment_events(eventlist, [3, 60, 60, 60])",
    },
    "factor_value": {
        "de": "Jeder Faktor muss eine ganze Zahl ab 1 sein, aber {value!r} ist es nicht. "
        "Schreibe zum Beispiel 3 statt 2.5 oder 0.",
        "en": "Every factor must be a whole number of at least 1, but {value!r} is not. "
        "Write for example 3 instead of 2.5 or 0.",
    },
    "factor_too_large": {
        "de": "Der Faktor {value} ist zu groß, höchstens {maximum} ist erlaubt. "
        "Mehr Kopien machen das Training langsam, aber kaum besser.",
        "en": "The factor {value} is too large, at most {maximum} is allowed. "
        "More copies make the training slow but hardly better.",
    },
    "epochs": {
        "de": "count_epochs muss eine ganze Zahl ab 1 sein, du hast {value!r} eingegeben. "
        "Schreibe zum Beispiel modell.train(count_epochs=3)",
        "en": "count_epochs must be a whole number of at least 1, you typed {value!r}. "
        "Write for example model.train(count_epochs=3)",
    },
    "epochs_too_large": {
        "de": "count_epochs={value} ist zu viel für heute, höchstens {maximum} ist erlaubt. "
        "Probiere zuerst 3 bis 10 Epochen.",
        "en": "count_epochs={value} is too many for today, at most {maximum} is allowed. "
        "Try 3 to 10 epochs first.",
    },
    "empty_list": {
        "de": "Die Liste {name} ist leer. Führe die Zellen darüber noch einmal von oben "
        "aus, damit sie Ereignisse enthält.",
        "en": "The list {name} is empty. Run the cells above again from the top so "
        "that it contains events.",
    },
    "not_a_list": {
        "de": "{name} muss eine Liste von Ereignissen sein (zum Beispiel aus load_events()), "
        "du hast aber {kind} übergeben.",
        "en": "{name} must be a list of events (for example from load_events()), "
        "but you passed {kind}.",
    },
    "category": {
        "de": 'Die Kategorie {value!r} gibt es nicht. Erlaubt sind "q" (Quarks), '
        '"e" (Elektronen), "m" (Myonen) und "t" (Taus).',
        "en": 'There is no category {value!r}. Allowed are "q" (quarks), '
        '"e" (electrons), "m" (muons) and "t" (taus).',
    },
    "no_structure": {
        "de": "Das Modell hat noch keine Struktur. Rufe zuerst "
        "modell.load_structure_default() auf.",
        "en": "The model has no structure yet. Call model.load_structure_default() first.",
    },
    "structure_incomplete": {
        "de": "Die Struktur des Modells ist nicht vollständig: {reason} "
        "Mit modell.load_structure_default() bekommst du die Standardstruktur.",
        "en": "The model's structure is not complete: {reason} "
        "model.load_structure_default() gives you the default structure.",
    },
    "no_training_data": {
        "de": "Das Modell hat noch keine Trainingsdaten. Rufe zuerst "
        "modell.load_training_eventlist(eventliste_training) auf.",
        "en": "The model has no training data yet. Call "
        "model.load_training_eventlist(eventlist_training) first.",
    },
    "not_trained": {
        "de": "Das Modell wurde noch nicht trainiert, also kann es nichts vorhersagen. "
        "Rufe zuerst modell.train(count_epochs=3) auf.",
        "en": "The model has not been trained yet, so it cannot predict anything. "
        "Call model.train(count_epochs=3) first.",
    },
    "no_learning_curve": {
        "de": "Es gibt noch keine Lernkurve, weil noch nicht trainiert wurde. "
        "Rufe zuerst modell.train(count_epochs=3) auf.",
        "en": "There is no learning curve yet because nothing has been trained. "
        "Call model.train(count_epochs=3) first.",
    },
    "length_mismatch": {
        "de": "Die beiden Listen sind verschieden lang ({first} und {second} Ereignisse). "
        "Vergleiche eine Liste mit ihrer eigenen Vorhersage, zum Beispiel "
        "show_confusion_matrix(eventliste_test, eventliste_vorhersage).",
        "en": "The two lists have different lengths ({first} and {second} events). "
        "Compare a list with its own prediction, for example "
        "show_confusion_matrix(eventlist_test, eventlist_prediction).",
    },
    "not_predicted": {
        "de": "Die zweite Liste enthält keine Vorhersagen. Sie muss von modell.predict(...) "
        "kommen.",
        "en": "The second list contains no predictions. It must come from model.predict(...).",
    },
    "positive_int": {
        "de": "{name} muss eine ganze Zahl ab 1 sein, du hast {value!r} eingegeben.",
        "en": "{name} must be a whole number of at least 1, you typed {value!r}.",
    },
    "entry_exists": {
        "de": "Es gibt schon eine Spalte {name!r}. Wähle einen anderen Namen oder schreibe "
        "overwrite=True, um sie zu ersetzen.",
        "en": "There already is a column {name!r}. Choose another name or write "
        "overwrite=True to replace it.",
    },
    "entry_index": {
        "de": "Es gibt keine Spalte Nummer {value!r}. Die Übersicht hat {count} Spalten, "
        "gezählt wird ab 0.",
        "en": "There is no column number {value!r}. The overview has {count} columns, "
        "counting from 0.",
    },
    "entry_name": {
        "de": 'Der Name der Spalte muss ein Text sein, zum Beispiel "Roh".',
        "en": 'The column name must be a text, for example "raw".',
    },
    "layer_value": {
        "de": "{name} muss {expected} sein, du hast {value!r} eingegeben.",
        "en": "{name} must be {expected}, you typed {value!r}.",
    },
    "data_missing": {
        "de": "Die Ereignisdaten wurden nicht gefunden. Bitte sag einer Tutorin oder "
        "einem Tutor Bescheid. (Technisch: {detail})",
        "en": "The event data could not be found. Please tell a tutor. (Technical: {detail})",
    },
    "out_of_memory": {
        "de": "Der Arbeitsspeicher hat nicht gereicht. Nimm kleinere Faktoren bei "
        "augment_events oder weniger Ereignisse und führe das Notebook von oben aus.",
        "en": "The memory was not enough. Use smaller factors in augment_events or fewer "
        "events, and run the notebook again from the top.",
    },
    # The hub's login page (hub/templates/login.html) and its authenticator.
    "login_title": {"de": "Anmelden", "en": "Sign in"},
    "login_username": {"de": "Benutzername:", "en": "Username:"},
    "login_password": {"de": "Passwort:", "en": "Passphrase:"},
    "login_button": {"de": "Anmelden", "en": "Sign in"},
    "login_hint": {
        "de": "Benutzername und Passwort stehen auf eurer Karte.",
        "en": "Your username and passphrase are on your card.",
    },
    "login_wrong": {
        "de": "Benutzername oder Passwort stimmt nicht. Tippt beides genau so ein, wie es "
        "auf eurer Karte steht.",
        "en": "The username or passphrase is wrong. Type both exactly as they are on your card.",
    },
    "login_throttled": {
        "de": "Zu viele falsche Versuche. Wartet {seconds} Sekunden und tippt dann "
        "Benutzername und Passwort von eurer Karte ein.",
        "en": "Too many failed logins. Please wait {seconds} seconds, then check the "
        "username and passphrase on your card and try again.",
    },
}

#: The message JupyterHub's login handler gives for a wrong login (translated on the page).
HUB_LOGIN_ERROR = "Invalid username or password"


def login_page_texts(language: str | None = None) -> dict[str, str]:
    """The texts of the hub's login page in *language* (default: the class language)."""
    lang = language if language in LANGUAGES else get_language()
    return {
        key.removeprefix("login_"): texts[lang]
        for key, texts in _MESSAGES.items()
        if key.startswith("login_") and key != "login_throttled"
    } | {"lang": lang, "hub_error": HUB_LOGIN_ERROR}


def get_language() -> str:
    """Return the language of student messages: ``"de"`` (default) or ``"en"``."""
    if _language is not None:
        return _language
    env = os.environ.get("MASTERCLASS_LANG", "de").strip().lower()[:2]
    return env if env in LANGUAGES else "de"


def set_language(language: str) -> None:
    """Choose the language of student messages for this session.

    Parameters
    ----------
    language : str
        ``"de"`` for German or ``"en"`` for English.
    """
    global _language
    code = str(language).strip().lower()[:2]
    if code not in LANGUAGES:
        raise StudentError("layer_value", name="language", expected='"de" or "en"', value=language)
    _language = code


def message(key: str, **values: object) -> str:
    """Return the message *key* in the current language, filled with *values*."""
    texts = _MESSAGES[key]
    return texts.get(get_language(), texts["de"]).format(**values)


class StudentError(ValueError):
    """A mistake a student can fix: the message says what to type instead.

    In IPython the traceback is suppressed, so the pair sees only the message.
    """

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = values
        super().__init__(message(key, **values))

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a long stack trace.
        title = "Hinweis" if get_language() == "de" else "Hint"
        return [f"\033[1;31m{title}:\033[0m {self}"]
