"""Opt-out recall, false opt-outs, opt-in, help and review figures for every labelled corpus.

    python bench/classify_accuracy.py [--corpus tests/corpus] [--locales locales] [--only NAME]

Reports each corpus separately: the original `tests/corpus/*.tsv`, then every sub-folder
(`dev/`, `blind1/`, ...), per language and in total. Misses are listed for corpora that
are not blind; a folder named `blind*` shows figures only. Exits non-zero when the
original corpus (the folder given by --corpus itself) is below 100 % recall or has any
false opt-out.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.detection.classify import Classifier  # noqa: E402
from handlers.detection.locales import load_locales  # noqa: E402
from handlers.ops.accuracy import evaluate, find_corpora, load_corpus, render  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=ROOT / "tests" / "corpus", type=Path)
    parser.add_argument("--locales", default=ROOT / "locales", type=Path)
    parser.add_argument("--only", help="one corpus by name (e.g. dev, blind1)")
    args = parser.parse_args(argv)
    classifier = Classifier.from_locales(load_locales(args.locales))
    status = 0
    for corpus in find_corpora(args.corpus):
        if args.only and corpus.name != args.only and corpus.path.name != args.only:
            continue
        cases = load_corpus(corpus.path)
        report = evaluate(classifier, cases)
        print("\n".join(render(corpus, cases, report)))
        print()
        if corpus.path == args.corpus and not report.passes:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
