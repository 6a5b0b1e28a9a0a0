"""The data contract: canonical columns, the aliases ERP exports use for them, and explicit mappings."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from routing_core.platform.errors import UserError

ITEM = "item_code"
PROCESS = "process_code"
SEQ = "seq"
DURATION = "duration_min"

CANONICAL = (ITEM, PROCESS, SEQ, DURATION)
REQUIRED = (ITEM, PROCESS)

# A duration kept in another unit maps to one of these targets and is converted to minutes.
DURATION_UNITS = {"duration_min": 1.0, "duration_h": 60.0, "duration_s": 1.0 / 60.0}
TARGETS = (ITEM, PROCESS, SEQ, *DURATION_UNITS)
# An explicit target meaning "not a canonical column": the column stays an attribute even if
# its name is a known alias (the dashboard's "—" choice).
IGNORE = "-"

# Aliases, compared after _key(): lower case, umlauts spelled out (ü -> ue), accents dropped,
# every character that is not a letter or digit removed. A name that is none of these is read
# word by word (see name_scores).
ALIASES: dict[str, tuple[str, ...]] = {
    ITEM: (
        "item_code", "item_cd", "item", "item_no", "item_number", "itemid", "item_id",
        "part_no", "part_number", "part_code", "part_id", "partno", "part", "material_no",
        "matnr", "article", "article_no", "artikel", "artikelnr", "artikelnummer", "teilenummer",
        "sku", "product_code", "prod_cd", "품목코드", "품번", "품목", "品番", "品目", "物料编码",
    ),
    PROCESS: (
        "process_code", "proc_cd", "process", "process_cd", "operation", "operation_code",
        "op_code", "oper_cd", "oper", "work_type", "activity", "step", "schritt", "arbeitsgang",
        "ktsch",  # SAP: the operation's standard text key
        "vorgang", "공정코드", "공정", "공정명", "작업", "工序", "工程",
    ),
    SEQ: (
        "seq", "proc_seq", "op_seq", "oper_seq", "operation_seq", "sequence", "step_no",
        "op_no", "operation_no", "opno", "nr", "no", "position", "reihenfolge", "vornr",
        "순서", "공정순서",
    ),
    "duration_min": (
        "duration_min", "duration", "run_time", "runtime", "run_time_min", "proc_time",
        "process_time", "cycle_time", "time_min", "minutes", "std_time", "dauer", "dauermin",
        "dauer_min", "작업시간", "소요시간",
    ),
    "duration_h": ("duration_h", "run_time_hr", "run_time_h", "hours", "time_h", "std_hours"),
    "duration_s": ("duration_s", "run_time_sec", "run_time_s", "seconds", "time_sec", "cycle_time_s"),
}

_SPELLED = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _fold(name: object) -> str:
    """Lower case, full-width forms made plain, umlauts spelled out and accents dropped.

    Only Latin letters lose their accents: decomposing Hangul syllables would break them apart.
    """
    text = unicodedata.normalize("NFKC", str(name)).casefold().translate(_SPELLED)
    return "".join(
        "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if "\u00c0" <= ch <= "\u024f" else ch
        for ch in text
    )


def _key(name: object) -> str:
    return "".join(ch for ch in _fold(name) if ch.isalnum())


_ALIAS_INDEX = {_key(alias): target for target, aliases in ALIASES.items() for alias in aliases}
_ALIAS_EXACT = {alias: target for target, aliases in ALIASES.items() for alias in aliases}

# ---------------------------------------------------------------- reading a column name word by word
#
# Each word of a name falls in one or more classes; the classes, not the words, decide which
# role the name fits. Latin words are compared after _fold(); words of scripts without spaces
# (Korean, Chinese, Japanese) are cut into the longest known words.

_WORDS: dict[str, tuple[str, ...]] = {
    "item": (
        "item", "items", "itm", "part", "parts", "teil", "teile", "artikel", "article", "articulo",
        "articolo", "product", "produkt", "producto", "prodotto", "produit", "sku", "sach", "pn",
        "erzeugnis", "품목", "품번", "제품", "부품", "品番", "品目", "品号", "品號", "料号", "料號",
        "零件", "部品", "产品", "產品", "製品",
    ),
    # material, product: the item only with a code or number ("Material No."), else an attribute
    "item_weak": ("material", "mat", "matl", "materiale", "materiau", "prod", "자재", "物料"),
    "item_code": ("matnr", "idnr", "sachnr"),
    # a job is the operation in some exports and the item (a job order) in others
    "job": ("job", "jobs"),
    "process": (
        "process", "processus", "proceso", "processo", "proc", "prozess", "operation", "operations",
        "operacion", "operazione", "oper", "op", "opr", "vorgang", "vorg", "arbeitsgang", "ag",
        "step", "steps", "schritt", "arbeitsschritt", "activity", "aktivitaet", "taetigkeit",
        "task", "etape", "paso", "fase", "공정", "작업", "工程", "工序", "作業", "作业", "工艺", "工藝",
    ),
    # a work centre, machine or person: where or by whom an operation runs, not which one
    "workplace": (
        "arbpl", "center", "centre", "centro", "platz", "arbeitsplatz", "workcenter", "workcentre",
        "workstation", "station", "machine", "maschine", "maquina", "macchina", "resource",
        "resources", "ressource", "recurso", "cell", "zelle", "line", "linie", "equipment",
        "anlage", "worker", "operator", "bediener", "employee", "mitarbeiter", "plant", "werk",
        "kostenstelle", "작업장", "설비", "라인", "기계", "호기", "작업자", "담당자", "工作中心",
        "设备", "設備", "機械", "机台", "机器", "担当",
    ),
    "seq": (
        "seq", "sequence", "sequenz", "secuencia", "sequencia", "sequenza", "reihenfolge",
        "folge", "position", "pos", "vornr", "agnr", "posnr", "순서", "순번", "順序", "顺序",
        "序号", "次序", "順番",
    ),
    "number": ("no", "nr", "nummer", "number", "num", "nbr", "numero", "n", "nro", "번호", "번",
               "番号", "号", "號", "编号", "編號"),
    "code": ("code", "cd", "id", "key", "kz", "schluessel", "kennung", "codigo", "codice",
             "ident", "코드", "コード", "编码", "代码", "編碼", "代碼", "码", "碼"),
    "name": ("name", "nm", "bez", "bezeichnung", "nombre", "nome", "nom", "명", "이름", "名",
             "名称", "名稱"),
    "text": ("desc", "descr", "description", "beschreibung", "text", "txt", "langtext",
             "kurztext", "descripcion", "descrizione", "libelle", "설명", "説明", "说明"),
    "time": (
        "time", "times", "zeit", "zeiten", "dauer", "duration", "temps", "tiempo", "tempo",
        "durata", "duree", "duracion", "duracao", "duur", "tijd", "czas", "minutes", "minuten",
        "hours", "stunden", "seconds", "sekunden", "horas", "heures", "minutos", "segundos", "시간", "時間", "时间", "工时", "工時", "耗时",
        "用时", "공수", "工数", "所要", "소요",
    ),
    # a time that is not the operation's own processing time: preferred less for the duration
    "side_time": (
        "setup", "rig", "ruest", "rust", "einricht", "umruest", "changeover", "preparation",
        "prep", "wait", "warte", "queue", "liege", "move", "transport", "transfer", "teardown",
        "abbau", "lead", "durchlauf", "liefer", "wiederbeschaffung", "셋업", "준비", "대기",
        "이동", "段取", "准备", "換型", "换型", "调机",
    ),
    "run_time": (
        "run", "lauf", "bearbeitung", "process", "proc", "processing", "cycle", "zyklus", "takt",
        "stueck", "fertigung", "ausfuehrung", "machining", "haupt", "ciclo", "usinage", "labor",
        "labour", "work", "oper", "operation", "exec", "execution", "produktion", "production",
        "가공", "작업", "가동", "加工", "作業", "作业", "运行",
    ),
    # clock times and dates are not durations
    "moment": ("date", "datum", "stamp", "timestamp", "zone", "start", "end", "begin", "beginn",
               "ende", "finish", "created", "updated", "modified", "last", "fecha", "일자", "날짜",
               "일시", "시각", "日期", "日付"),
    # words that make a name something else than a code: a kind, an amount, a property
    "other": (
        "type", "typ", "art", "group", "gruppe", "grp", "family", "familie", "class", "klasse",
        "category", "kategorie", "kind", "weight", "gewicht", "qty", "quantity", "menge", "price",
        "preis", "cost", "costs", "kosten", "einheit", "uom", "count", "anzahl", "level", "stufe",
        "status", "rev", "revision", "version", "grade", "quality", "qualitaet", "size", "groesse",
        "length", "width", "laenge", "breite", "hoehe", "height", "dia", "diameter",
        "durchmesser", "color", "colour", "farbe", "surface", "order", "auftrag", "구분", "유형",
        "분류", "종류", "단가", "수량", "중량", "지시", "类型", "类别", "数量", "重量", "单价",
    ),
    # words that change nothing: standard time, planned time, "lfd. Nr." (running number)
    "neutral": ("std", "standard", "soll", "ist", "plan", "planned", "act", "actual", "total",
                "gesamt", "per", "pro", "je", "pc", "pcs", "piece", "stk", "lfd", "erp", "sap",
                "main", "vorgabe", "norm", "avg", "mean", "the", "of", "de", "du", "des", "del",
                "la", "le", "der", "die", "das", "von", "en", "value", "wert", "표준", "标准", "標準"),
}

# Units of a duration: in brackets, or the last word of the name ("Run time min", "tiempo_h").
_UNITS: dict[str, tuple[str, ...]] = {
    "duration_min": ("min", "mins", "minute", "minutes", "minuten", "minuto", "minutos", "minuti",
                     "m", "분", "分", "分钟", "分鐘"),
    "duration_h": ("h", "hr", "hrs", "hour", "hours", "std", "stunde", "stunden", "heure",
                   "heures", "hora", "horas", "ore", "uur", "小时", "小時"),
    "duration_s": ("s", "sec", "secs", "second", "seconds", "sek", "sekunde", "sekunden", "seg",
                   "segundo", "segundos", "secondi", "seconde", "secondes", "초", "秒"),
}
# Words that are a unit only in brackets: "작업시간" is a working time, "작업시간(시간)" one in hours.
_BRACKET_UNITS = {"시간": "duration_h", "時間": "duration_h", "时": "duration_h", "時": "duration_h"}
_SHORT_UNITS = {"m", "h", "s"}  # a unit as the last word only after a time word ("Zeit h")

_CLASSES: dict[str, set[str]] = {}
for _cls, _words in _WORDS.items():
    for _word in _words:
        _CLASSES.setdefault(_word, set()).add(_cls)
_UNIT_OF = {w: unit for unit, words in _UNITS.items() for w in words}
_UNIT_OF.update(_BRACKET_UNITS)
# Known words of scripts written without spaces, longest first for cutting.
_CJK_WORDS = sorted(
    {w for w in [*_CLASSES, *_UNIT_OF] if not w.isascii()}, key=len, reverse=True
)
# Endings split off a run-together Latin word: "teilenummer", "runtime", "ruestzeit", "opno".
_ENDINGS = sorted(
    ("nummer", "number", "nr", "no", "num", "code", "cd", "id", "key", "name", "nm", "seq",
     "time", "zeit", "zeiten", "dauer"), key=len, reverse=True
)
_TIME_ENDINGS = {"time", "zeit", "zeiten", "dauer"}
_BRACKETS = re.compile(r"[(\[{<]([^)\]}>]*)[)\]}>]?")
_TOKENS = re.compile(r"[a-z]+|[0-9]+|[^\W\d_a-z]+")


def _classes(word: str) -> set[str]:
    """The classes of a Latin word or a known Korean/Chinese/Japanese word."""
    found = set(_CLASSES.get(word, ()))
    if not found and word.isascii() and len(word) > 3:
        # compounds: "bearbeitungs" (zeit), "ruest" (zeit), "processing"
        for cls in ("side_time", "run_time"):
            if any(word.startswith(stem) for stem in _WORDS[cls] if stem.isascii() and len(stem) > 3):
                found.add(cls)
    return found


def _cut(token: str) -> list[str]:
    """A word split into known words: Latin compounds at known endings, other scripts by lexicon."""
    if token.isascii():
        if token in _CLASSES or token in _UNIT_OF or token.isdigit():
            return [token]
        for ending in _ENDINGS:
            if token.endswith(ending) and len(token) > len(ending):
                head = token[: -len(ending)]
                linked = head[:-1] if head.endswith(("s", "e")) else head
                for stem in (head, linked):  # "vorgangs-nummer", "teile-nummer"
                    if stem in _CLASSES or (ending in _TIME_ENDINGS and len(head) > 1):
                        return [*_cut(head if ending in _TIME_ENDINGS else stem), ending]
        return [token]
    words, unknown, i = [], "", 0
    while i < len(token):
        word = next((w for w in _CJK_WORDS if token.startswith(w, i)), None)
        if word is None:
            unknown += token[i]
            i += 1
            continue
        if unknown:
            words.append(unknown)
            unknown = ""
        words.append(word)
        i += len(word)
    return [*words, unknown] if unknown else words


def _words(name: object) -> tuple[list[str], list[str]]:
    """(words outside brackets, words inside brackets) of a column name."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(name))  # camelCase: "ArtikelNr"
    text = re.sub(r"set[ _-]?up", "setup", _fold(text)).replace("#", " no ")
    inner = [w for m in _BRACKETS.finditer(text) for t in _TOKENS.findall(m.group(1)) for w in _cut(t)]
    outer = [w for t in _TOKENS.findall(_BRACKETS.sub(" ", text)) for w in _cut(t)]
    return outer, inner


def _unit(outer: list[str], inner: list[str], timed: bool) -> tuple[str | None, int]:
    """The duration target a name's unit picks, and how many outer words it took (0 or 1)."""
    for word in inner:
        if word in _UNIT_OF:
            return _UNIT_OF[word], 0
    last = outer[-1] if outer else ""
    if outer == ["std"]:
        return "duration_h", 0  # "Std.", a column of hours (Stunden) on its own
    if last in _UNIT_OF and last not in _BRACKET_UNITS and (timed or last not in _SHORT_UNITS):
        # "Stunden" alone is the time word itself; in "Run time min" the unit is a word of its own
        alone = len(outer) == 1
        if not alone or "time" in _CLASSES.get(last, ()):
            return _UNIT_OF[last], 0 if alone else 1
    return None, 0


def name_classes(name: object) -> set[str]:
    """What the words of a column name are about: "workplace" for `ARBPL`, "time", "other" (a
    kind, an amount, a property) … — an empty set when no word is known."""
    outer, _ = _words(name)
    return set().union(*(_classes(w) for w in outer)) if outer else set()


def name_scores(name: object) -> dict[str, tuple[int, str]]:
    """How well a column name fits each role, from 0 to 100: {role: (score, target)}.

    Roles are the canonical columns (duration_min standing for the duration); the target is
    what the column would map to (duration_h for "Std. time (h)"). An alias as written scores
    100, an alias after _key() 95; a name read word by word scores less, and less again for
    each word that means nothing to the role. Roles a name does not fit are left out.
    """
    scores: dict[str, tuple[int, str]] = {}
    alias = _ALIAS_EXACT.get(str(name).strip().lower())
    exact = alias is not None
    alias = alias or _ALIAS_INDEX.get(_key(name))
    if alias is not None:
        role = DURATION if alias in DURATION_UNITS else alias
        scores[role] = (100 if exact else 95, alias)

    outer, inner = _words(name)
    classes = [_classes(w) for w in outer]
    timed = any("time" in c for c in classes)
    # a short unit also follows a run-time word: "RUN_H", "ciclo_h"
    unit, unit_words = _unit(outer, inner, timed or any("run_time" in c for c in classes[:-1]))
    if unit_words:
        classes = classes[:-1]
    has = set().union(*classes) if classes else set()
    # words that mean nothing here (digits are ignored: "VGW01", "Zeit 2")
    unknown = sum(1 for w, c in zip(outer, classes, strict=False) if not c and not w.isdigit())

    def keep(role: str, score: int, target: str) -> None:
        score -= 10 * unknown
        if score >= 20 and score > scores.get(role, (0, ""))[0]:
            scores[role] = (score, target)

    if "moment" not in has and "other" not in has:
        if timed:
            run = "run_time" in has and "side_time" not in has
            keep(DURATION, 85 if run else 55 if "side_time" in has else 75, unit or DURATION)
        elif unit and classes and has <= {"neutral", "run_time", "side_time", "process"}:
            keep(DURATION, 55 if "side_time" in has else 70, unit)  # "STD_MIN", "Bearbeitung [min]"
    if timed or unit or "moment" in has or "other" in has:
        return scores
    numbered = "number" in has or "seq" in has
    coded = "code" in has
    named = "name" in has
    text = "text" in has
    if has & {"item", "item_weak", "item_code"}:
        if "item_code" in has:
            keep(ITEM, 90, ITEM)
        elif "item" in has:
            if not text:  # "Part description", "PART_DESC": what the item is, not its code
                keep(ITEM, 35 if named else 85 if numbered or coded else 70, ITEM)
        elif numbered or coded:
            keep(ITEM, 80, ITEM)  # "Material No.", "자재코드"
        return scores
    if "workplace" in has:
        return scores  # "ARBPL", "Arbeitsplatz", "work center": where, not what
    if "job" in has:
        if not numbered or coded:
            keep(ITEM, 30 if named or text else 50, ITEM)
            keep(PROCESS, 40 if named or text else 60, PROCESS)
        elif not named and not text:
            keep(ITEM, 60, ITEM)  # "JOB_NO", "Job #": a job order, which a job-shop log routes
        return scores
    if "seq" in has:
        keep(SEQ, 85, SEQ)
    elif numbered and "process" in has:
        keep(SEQ, 80, SEQ)  # "Op. No.", "op #", "Arbeitsgangnummer", "공정번호"
    elif numbered and not has - {"number", "neutral"}:
        keep(SEQ, 70, SEQ)  # "Nr.", "#", "lfd. Nr."
    elif "process" in has:
        short = outer == ["op"] or outer == ["ag"]
        keep(PROCESS, 40 if text else 65 if short else 85 if coded else 75, PROCESS)
    return scores


# At most this many columns compete for one role in the assignment (the best by name).
_CANDIDATES = 6
# A column that is the only one fitting a role is preferred there when totals are level.
_SOLE_BONUS = 5


def detect_mapping(columns: Iterable[str]) -> dict[str, str]:
    """Map source column -> target for the columns whose names say what they are.

    Every (column, role) pair is scored by name_scores(); the roles are then given to the
    columns that make the total score highest, one column per role. So `JOB_CD` is the process
    when `ITEM_CD` is there, and the item when `OPER` is. Levels go to the earlier column.
    """
    columns = list(dict.fromkeys(columns))
    table = {col: name_scores(col) for col in columns}
    candidates: dict[str, list[tuple[int, str, str]]] = {}
    for role in CANONICAL:
        fits = [(table[c][role][0], i, c) for i, c in enumerate(columns) if role in table[c]]
        fits.sort(key=lambda f: (-f[0], f[1]))
        bonus = _SOLE_BONUS if len(fits) == 1 else 0
        candidates[role] = [(s + bonus, c, table[c][role][1]) for s, _, c in fits[:_CANDIDATES]]

    best: tuple[int, dict[str, str]] = (0, {})

    def search(k: int, total: int, used: dict[str, str]) -> None:
        nonlocal best
        if k == len(CANONICAL):
            if total > best[0]:
                best = (total, dict(used))
            return
        for score, col, target in candidates[CANONICAL[k]]:
            if col not in used:
                used[col] = target
                search(k + 1, total + score, used)
                del used[col]
        search(k + 1, total, used)

    search(0, 0, {})
    return {c: best[1][c] for c in columns if c in best[1]}


def parse_map_args(pairs: Iterable[str] | None) -> dict[str, str]:
    """Parse `SOURCE=canonical` strings (the CLI's --map) into a mapping."""
    mapping: dict[str, str] = {}
    for pair in pairs or ():
        source, sep, target = pair.rpartition("=")
        if not sep or not source or not target:
            raise UserError(f"--map '{pair}' is not SOURCE=canonical (e.g. --map PART_NO=item_code).")
        mapping[source] = target.strip()
    return mapping


def resolve_mapping(columns: Iterable[str], explicit: Mapping[str, str] | None = None) -> dict[str, str]:
    """Detected aliases overlaid with an explicit mapping; checks that sources exist and targets are unique."""
    columns = list(columns)
    explicit = dict(explicit or {})
    ignored = {s for s, t in explicit.items() if t == IGNORE}
    explicit = {s: t for s, t in explicit.items() if t != IGNORE}
    for source in ignored:
        if source in CANONICAL:
            raise UserError(
                f"Column '{source}' carries the canonical name {source}, so it is always used as such; "
                "rename it in the file to keep it as an attribute."
            )
    for source, target in explicit.items():
        if target not in TARGETS:
            raise UserError(
                f"Cannot map '{source}' to '{target}': the targets are {', '.join(TARGETS)}."
            )
        if source not in columns:
            raise UserError(
                f"The mapping names column '{source}', which is not in the file. "
                f"Columns found: {_list(columns)}."
            )
    explicit_canon = {DURATION if t in DURATION_UNITS else t for t in explicit.values()}
    mapping = {
        s: t
        for s, t in detect_mapping(columns).items()
        if s not in explicit
        and s not in ignored
        and (DURATION if t in DURATION_UNITS else t) not in explicit_canon
    }
    mapping.update(explicit)
    seen: dict[str, str] = {}
    for source, target in mapping.items():
        canonical = DURATION if target in DURATION_UNITS else target
        if canonical in seen:
            raise UserError(
                f"Columns '{seen[canonical]}' and '{source}' are both mapped to {canonical}; keep one."
            )
        seen[canonical] = source
    # A canonical name already in the file that is not mapped away is used as is.
    for canonical in CANONICAL:
        if canonical not in seen and canonical in columns and canonical not in mapping:
            mapping[canonical] = canonical
    return mapping


def mapping_from_choices(columns: Iterable[str], choices: Mapping[str, str | None]) -> dict[str, str]:
    """Explicit mapping from one chosen source column (or None) per target, as the dashboard asks for it.

    choices: {item_code, process_code, seq, duration_min|duration_h|duration_s: source or None}.
    A target left at None stays unmapped even when a column's name is an alias of it.
    """
    columns = list(columns)
    mapping: dict[str, str] = {}
    for target, source in choices.items():
        if target not in TARGETS:
            raise UserError(f"Unknown target '{target}': the targets are {', '.join(TARGETS)}.")
        if source is None:
            continue
        if source not in columns:
            raise UserError(f"Column '{source}' is not in the file. Columns found: {_list(columns)}.")
        if source in mapping:
            raise UserError(f"Column '{source}' is chosen for both {mapping[source]} and {target}; pick one.")
        mapping[source] = target
    chosen = {DURATION if t in DURATION_UNITS else t for t in mapping.values()}
    for source, target in detect_mapping(columns).items():
        canonical = DURATION if target in DURATION_UNITS else target
        if source not in mapping and canonical not in chosen:
            mapping[source] = IGNORE
    return mapping


def _list(columns: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")
