"""Accuracy of the classifier over a labelled corpus (tests/corpus/*.tsv).

Each corpus file is named after the language of its messages and holds lines of
`intent<TAB>message`; '#' starts a comment line. Shared by `bench/classify_accuracy.py`
and the test suite, so both judge the engine the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from handlers.detection.classify import Classification, Classifier
from handlers.detection.intents import Intent

REQUIRED_OPT_OUT_RECALL = 1.0
MAX_FALSE_OPT_OUT_RATE = 0.0


@dataclass(frozen=True)
class Case:
    language: str
    intent: Intent
    text: str
    where: str          # "en.tsv:12", to find the line again


@dataclass
class Report:
    cases: int = 0
    opt_outs: int = 0
    opt_outs_found: int = 0
    non_opt_outs: int = 0
    false_opt_outs: int = 0
    wrong_intent: list[tuple[Case, Classification]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.opt_outs_found / self.opt_outs if self.opt_outs else 1.0

    @property
    def false_opt_out_rate(self) -> float:
        return self.false_opt_outs / self.non_opt_outs if self.non_opt_outs else 0.0

    @property
    def passes(self) -> bool:
        return self.recall >= REQUIRED_OPT_OUT_RECALL and self.false_opt_out_rate <= MAX_FALSE_OPT_OUT_RATE


def load_corpus(directory: str | Path) -> list[Case]:
    cases = []
    for path in sorted(Path(directory).glob("*.tsv")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            label, _, text = line.partition("\t")
            try:
                intent = Intent(label.strip())
            except ValueError:
                raise ValueError(f"{path.name}:{number}: unknown intent {label!r}") from None
            if not text.strip():
                raise ValueError(f"{path.name}:{number}: no message after the intent")
            cases.append(Case(path.stem, intent, text, f"{path.name}:{number}"))
    return cases


def evaluate(classifier: Classifier, cases: list[Case]) -> Report:
    report = Report()
    for case in cases:
        result = classifier.classify(case.text)
        report.cases += 1
        if case.intent is Intent.OPT_OUT:
            report.opt_outs += 1
            report.opt_outs_found += result.intent is Intent.OPT_OUT
        else:
            report.non_opt_outs += 1
            report.false_opt_outs += result.intent is Intent.OPT_OUT
        if result.intent is not case.intent:
            report.wrong_intent.append((case, result))
    return report
