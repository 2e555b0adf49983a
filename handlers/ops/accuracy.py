"""Accuracy of the classifier over labelled corpora (tests/corpus/ and its folders).

A corpus is a folder of files named after the language of their messages, each line
`intent<TAB>message` or `intent<TAB>category<TAB>message` ('#' starts a comment line).
`tests/corpus/` itself is the original corpus; every sub-folder holding `*.tsv` files is
another one (`dev/`, `blind1/`, ...). A folder whose name starts with "blind" is a blind
corpus: only aggregate figures are ever shown for it, never its messages.

Shared by `bench/classify_accuracy.py` and the test suite, so both judge the engine the
same way.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from handlers.detection.classify import Classification, Classifier
from handlers.detection.intents import Intent

REQUIRED_OPT_OUT_RECALL = 1.0
MAX_FALSE_OPT_OUT_RATE = 0.0
BLIND_PREFIX = "blind"

# What the blind corpora are judged against (issue 13).
TARGET_RECALL = 0.95
TARGET_RECALL_MIN_OPT_OUTS = 20      # languages with fewer opt-outs are not judged one by one
TARGET_FALSE_OPT_OUT_RATE = 0.01
TARGET_OPT_IN = 0.9
TARGET_HELP = 0.9
TARGET_REVIEW_SHARE = 0.05


@dataclass(frozen=True)
class Case:
    language: str
    intent: Intent
    text: str
    where: str               # "en.tsv:12", to find the line again
    category: str | None = None


@dataclass(frozen=True)
class Corpus:
    name: str                # the folder's name: "corpus", "dev", "blind1"
    path: Path
    blind: bool


@dataclass
class Report:
    cases: int = 0
    opt_outs: int = 0
    opt_outs_found: int = 0
    non_opt_outs: int = 0
    false_opt_outs: int = 0
    opt_ins: int = 0
    opt_ins_found: int = 0
    helps: int = 0
    helps_found: int = 0
    nones: int = 0
    nones_to_review: int = 0
    nones_answered: int = 0      # none, answered with the help text: a question about a keyword
    wrong_intent: list[tuple[Case, Classification]] = field(default_factory=list)
    review_rules: Counter = field(default_factory=Counter)   # rule kind of each none sent to review
    languages: dict[str, Report] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.opt_outs_found / self.opt_outs if self.opt_outs else 1.0

    @property
    def false_opt_out_rate(self) -> float:
        return self.false_opt_outs / self.non_opt_outs if self.non_opt_outs else 0.0

    @property
    def opt_in_accuracy(self) -> float:
        return self.opt_ins_found / self.opt_ins if self.opt_ins else 1.0

    @property
    def help_accuracy(self) -> float:
        return self.helps_found / self.helps if self.helps else 1.0

    @property
    def review_share(self) -> float:
        """Share of ordinary messages (labelled none) that would wait in the review queue."""
        return self.nones_to_review / self.nones if self.nones else 0.0

    @property
    def passes(self) -> bool:
        return self.recall >= REQUIRED_OPT_OUT_RECALL and self.false_opt_out_rate <= MAX_FALSE_OPT_OUT_RATE

    def add(self, case: Case, result: Classification) -> None:
        self.cases += 1
        found = is_right(case, result)
        self.nones_answered += found and result.intent is not case.intent
        if case.intent is Intent.OPT_OUT:
            self.opt_outs += 1
            self.opt_outs_found += found
        else:
            self.non_opt_outs += 1
            self.false_opt_outs += result.intent is Intent.OPT_OUT
        if case.intent is Intent.OPT_IN:
            self.opt_ins += 1
            self.opt_ins_found += found
        elif case.intent is Intent.HELP:
            self.helps += 1
            self.helps_found += found
        elif case.intent is Intent.NONE:
            self.nones += 1
            if result.intent is Intent.NONE and not result.certain:
                self.nones_to_review += 1
                self.review_rules[(result.rule or "none").split(":", 1)[0]] += 1
        if not found:
            self.wrong_intent.append((case, result))


def is_right(case: Case, result: Classification) -> bool:
    """Whether `result` is the labelled intent, or a question about a keyword labelled none
    ("What happens if I reply STOP?": no consent change) that the service answers with the
    help text (rule `quoted:...`), which says what each keyword does."""
    if result.intent is case.intent:
        return True
    return case.intent is Intent.NONE and result.intent is Intent.HELP and (result.rule or "").startswith("quoted:")


def load_corpus(directory: str | Path) -> list[Case]:
    """The cases of the `*.tsv` files directly in `directory` (not its sub-folders)."""
    cases = []
    for path in sorted(Path(directory).glob("*.tsv")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise ValueError(f"{path.name}:{number}: expected intent<TAB>message")
            label, category, text = (fields[0], None, fields[1]) if len(fields) == 2 else \
                (fields[0], fields[1].strip() or None, "\t".join(fields[2:]))
            try:
                intent = Intent(label.strip())
            except ValueError:
                raise ValueError(f"{path.name}:{number}: unknown intent {label!r}") from None
            if not text.strip():
                raise ValueError(f"{path.name}:{number}: no message after the intent")
            cases.append(Case(path.stem, intent, text, f"{path.name}:{number}", category))
    return cases


def find_corpora(root: str | Path) -> list[Corpus]:
    """`root` itself (when it holds `*.tsv` files), then each sub-folder that does, by name."""
    root = Path(root)
    corpora = []
    if any(root.glob("*.tsv")):
        corpora.append(Corpus(root.name, root, root.name.startswith(BLIND_PREFIX)))
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if any(folder.glob("*.tsv")):
            corpora.append(Corpus(folder.name, folder, folder.name.startswith(BLIND_PREFIX)))
    return corpora


def evaluate(classifier: Classifier, cases: list[Case]) -> Report:
    """Totals over `cases`, with the same figures per language in `report.languages`."""
    report = Report()
    for case in cases:
        result = classifier.classify(case.text)
        report.add(case, result)
        report.languages.setdefault(case.language, Report()).add(case, result)
    report.languages = dict(sorted(report.languages.items()))
    return report


def by_category(cases: list[Case], report: Report) -> dict[str, tuple[int, int]]:
    """(right, total) per category label, for corpora that carry one."""
    wrong = Counter(case.category for case, _ in report.wrong_intent)
    totals = Counter(case.category for case in cases if case.category)
    return {category: (total - wrong[category], total) for category, total in sorted(totals.items())}


def target_misses(report: Report) -> list[str]:
    """Which of the blind-evaluation targets these figures miss (empty: all met)."""
    misses = []
    for language, figures in report.languages.items():
        if figures.opt_outs >= TARGET_RECALL_MIN_OPT_OUTS and figures.recall < TARGET_RECALL:
            misses.append(f"opt-out recall {language} {figures.recall:.0%} < {TARGET_RECALL:.0%}")
    if report.false_opt_out_rate > TARGET_FALSE_OPT_OUT_RATE:
        misses.append(f"false opt-outs {report.false_opt_out_rate:.1%} > {TARGET_FALSE_OPT_OUT_RATE:.0%}")
    if report.opt_in_accuracy < TARGET_OPT_IN:
        misses.append(f"opt-in {report.opt_in_accuracy:.0%} < {TARGET_OPT_IN:.0%}")
    if report.help_accuracy < TARGET_HELP:
        misses.append(f"help {report.help_accuracy:.0%} < {TARGET_HELP:.0%}")
    if report.review_share > TARGET_REVIEW_SHARE:
        misses.append(f"none -> review {report.review_share:.1%} > {TARGET_REVIEW_SHARE:.0%}")
    return misses


def _ratio(found: int, total: int) -> str:
    return f"{found / total:6.1%} ({found}/{total})" if total else "     — (0/0)"


def render(corpus: Corpus, cases: list[Case], report: Report) -> list[str]:
    """The lines `bench/classify_accuracy.py` prints for one corpus. A blind corpus shows
    aggregate figures only: no message, no line number, no per-item result."""
    languages = sorted({case.language for case in cases})
    lines = [f"== {corpus.name}: {report.cases} messages in {len(languages)} languages"
             + (" (blind: figures only)" if corpus.blind else "")]
    header = f"{'language':9}{'opt-out recall':>20}{'false opt-outs':>20}{'opt-in':>18}{'help':>18}{'none -> review':>20}"
    lines.append(header)
    rows = list(report.languages.items()) + [("total", report)]
    for language, figures in rows:
        lines.append(f"{language:9}{_ratio(figures.opt_outs_found, figures.opt_outs):>20}"
                     f"{_ratio(figures.false_opt_outs, figures.non_opt_outs):>20}"
                     f"{_ratio(figures.opt_ins_found, figures.opt_ins):>18}"
                     f"{_ratio(figures.helps_found, figures.helps):>18}"
                     f"{_ratio(figures.nones_to_review, figures.nones):>20}")
    if report.nones_answered:
        lines.append(f"none -> help text (a question about a keyword, rule quoted:...): {report.nones_answered}")
    if report.review_rules:
        kinds = ", ".join(f"{kind} {count}" for kind, count in report.review_rules.most_common())
        lines.append(f"none -> review by rule: {kinds}")
    categories = by_category(cases, report)
    if categories:
        lines.append("right by category: " + ", ".join(f"{name} {right}/{total}"
                                                      for name, (right, total) in categories.items()))
    if corpus.blind:
        misses = target_misses(report)
        lines.append("targets: " + ("all met" if not misses else "missed: " + "; ".join(misses)))
        return lines
    lines.append(f"wrong intent: {len(report.wrong_intent)}")
    for case, result in report.wrong_intent:
        lines.append(f"  {case.where}: expected {case.intent.value}, got {result.intent.value}"
                     f"{'' if result.certain else ' (uncertain)'} ({result.rule or 'no rule'}) for {case.text!r}")
    return lines
