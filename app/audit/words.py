"""The timeline's words in Kazakh, Russian and English: one sentence per journal event type.

A sentence names the step by its form's title (or the diagram's name for it), the state system
by the name `handlers.system_of` gives it; `{…}` are filled in by `app.audit.timeline`. An event
type without a sentence (a newer one) is told by its name, never dropped.
"""

SENTENCES = {
    "instance_started": {
        "en": "Started the application «{process}»",
        "ru": "Подал(а) заявление «{process}»",
        "kk": "«{process}» өтінішін бастады"},
    "task_claimed": {
        "en": "Took the step «{step}» to work on it",
        "ru": "Взял(а) в работу шаг «{step}»",
        "kk": "«{step}» қадамын жұмысқа алды"},
    "task_completed": {
        "en": "Completed the step «{step}»",
        "ru": "Выполнил(а) шаг «{step}»",
        "kk": "«{step}» қадамын орындады"},
    "service_called": {
        "en": "{system} answered the request of «{step}»",
        "ru": "{system} ответила на запрос шага «{step}»",
        "kk": "{system} «{step}» қадамының сұрауына жауап берді"},
    "service_unavailable": {
        "en": "{system} did not answer «{step}» (attempt {attempt}): {error}",
        "ru": "{system} не ответила на шаг «{step}» (попытка {attempt}): {error}",
        "kk": "{system} «{step}» қадамына жауап бермеді ({attempt}-әрекет): {error}"},
    "service_refused": {
        "en": "{system} refused the request of «{step}»: {error}",
        "ru": "{system} отказала в запросе шага «{step}»: {error}",
        "kk": "{system} «{step}» қадамының сұрауын қабылдамады: {error}"},
    "service_applied": {
        "en": "The answer to «{step}» was taken into the case",
        "ru": "Ответ на шаг «{step}» принят в дело",
        "kk": "«{step}» қадамына жауап іске қабылданды"},
    "service_failed": {
        "en": "The step «{step}» failed: {error}",
        "ru": "Шаг «{step}» завершился ошибкой: {error}",
        "kk": "«{step}» қадамы қатемен аяқталды: {error}"},
    "incident_raised": {
        "en": "The case stopped with an incident at «{step}»",
        "ru": "Дело остановлено инцидентом на шаге «{step}»",
        "kk": "Іс «{step}» қадамында оқиғамен тоқтады"},
    "retried": {
        "en": "Retried the failed step",
        "ru": "Повторил(а) шаг, завершившийся ошибкой",
        "kk": "Қатемен аяқталған қадамды қайталады"},
    "timer_fired": {
        "en": "The timer «{step}» fired (due {due})",
        "ru": "Сработал таймер «{step}» (срок {due})",
        "kk": "«{step}» таймері іске қосылды (мерзімі {due})"},
    "timer_elapsed": {
        "en": "The waiting time «{step}» ran out",
        "ru": "Истекло время ожидания «{step}»",
        "kk": "«{step}» күту уақыты өтті"},
    "step_overdue": {
        "en": "The deadline of «{step}» passed (due {due}); escalated to the head",
        "ru": "Срок шага «{step}» истёк ({due}); доложено руководителю",
        "kk": "«{step}» қадамының мерзімі өтті ({due}); басшыға хабарланды"},
    "case_overdue": {
        "en": "The case's overall term passed (due {due}); escalated to the head",
        "ru": "Общий срок дела истёк ({due}); доложено руководителю",
        "kk": "Істің жалпы мерзімі өтті ({due}); басшыға хабарланды"},
    "instance_completed": {
        "en": "The case ended: {outcome}",
        "ru": "Дело завершено: {outcome}",
        "kk": "Іс аяқталды: {outcome}"},
}
UNKNOWN = {"en": "Recorded «{type}»", "ru": "Записано событие «{type}»",
           "kk": "«{type}» оқиғасы жазылды"}

WORDS = {
    "yes": {"en": "yes", "ru": "да", "kk": "иә"},
    "no": {"en": "no", "ru": "нет", "kk": "жоқ"},
    "hidden": {"en": "hidden (sha256 {sha})", "ru": "скрыто (sha256 {sha})",
               "kk": "жасырын (sha256 {sha})"},
    "case": {"en": "the case", "ru": "дело", "kk": "іс"},
}


def pick(texts: dict, lang: str) -> str:
    """Return the text of `lang`, else English, else any: the web UI's own rule."""
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


def sentence(kind: str, lang: str, **parts) -> str:
    """Return the plain-words sentence of a journal event type in `lang`."""
    template = pick(SENTENCES.get(kind, UNKNOWN), lang)
    return template.format(type=kind, **parts)
