"""Recall on opt-outs and false opt-out rate over the labelled corpus.

    /work/venv/bin/python bench/classify_accuracy.py [--corpus tests/corpus] [--locales locales]

Exits non-zero when recall is below 100 % or any non-opt-out is read as an opt-out.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.detection.classify import Classifier  # noqa: E402
from handlers.detection.locales import load_locales  # noqa: E402
from handlers.ops.accuracy import evaluate, load_corpus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=ROOT / "tests" / "corpus", type=Path)
    parser.add_argument("--locales", default=ROOT / "locales", type=Path)
    args = parser.parse_args()
    classifier = Classifier.from_locales(load_locales(args.locales))
    cases = load_corpus(args.corpus)
    report = evaluate(classifier, cases)
    print(f"messages:          {report.cases} in {len({c.language for c in cases})} languages")
    print(f"opt-out recall:    {report.recall:.1%} ({report.opt_outs_found}/{report.opt_outs})")
    print(f"false opt-outs:    {report.false_opt_out_rate:.1%} ({report.false_opt_outs}/{report.non_opt_outs})")
    print(f"intent accuracy:   {1 - len(report.wrong_intent) / report.cases:.1%}")
    for case, result in report.wrong_intent:
        print(f"  {case.where}: expected {case.intent.value}, got {result.intent.value} "
              f"({result.rule or 'no rule'}) for {case.text!r}")
    return 0 if report.passes else 1


if __name__ == "__main__":
    sys.exit(main())
