"""bench/classify_accuracy.py: every corpus reported separately; blind corpora show figures only."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.classify_accuracy import main
from handlers.detection.intents import Intent
from handlers.ops.accuracy import Report, find_corpora, load_corpus, target_misses

LOCALES = Path(__file__).resolve().parent.parent / "locales"
SECRET = "zebra quartz marmalade"   # labelled an opt-out, never found, and never to be shown


@pytest.fixture
def corpora(tmp_path):
    (tmp_path / "en.tsv").write_text("# original\nopt_out\tSTOP\nnone\tthe shoes arrived\n", "utf-8")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "en.tsv").write_text(
        "opt_out\tkeyword\tunsubscribe\nhelp\twho\tzebra quartz tangerine\nnone\tchat\tthanks\n", "utf-8")
    (tmp_path / "blind7").mkdir()
    (tmp_path / "blind7" / "en.tsv").write_text(
        f"opt_out\tSTOP\nopt_out\t{SECRET}\nnone\tcan I stop by tomorrow\nnone\tmy son texted STOP to his school\n", "utf-8")
    (tmp_path / "notes").mkdir()          # a folder without *.tsv is no corpus
    return tmp_path


def test_loader_accepts_an_optional_category_column(corpora):
    original, dev = load_corpus(corpora), load_corpus(corpora / "dev")
    assert [(c.intent, c.category, c.text) for c in original] == [
        (Intent.OPT_OUT, None, "STOP"), (Intent.NONE, None, "the shoes arrived")]
    assert [(c.intent, c.category) for c in dev] == [
        (Intent.OPT_OUT, "keyword"), (Intent.HELP, "who"), (Intent.NONE, "chat")]
    assert dev[1].where == "en.tsv:2"


def test_loader_names_file_and_line_of_an_unknown_label(tmp_path):
    (tmp_path / "es.tsv").write_text("opt_out\tbaja\nstop_it\tfoo\tbar\n", "utf-8")
    with pytest.raises(ValueError, match=r"es.tsv:2: unknown intent 'stop_it'"):
        load_corpus(tmp_path)


def test_corpora_are_the_folder_and_each_subfolder_with_tsv_files(corpora):
    found = [(c.name, c.blind) for c in find_corpora(corpora)]
    assert found == [(corpora.name, False), ("blind7", True), ("dev", False)]


def test_report_prints_each_corpus_and_hides_blind_messages(corpora, capsys):
    status = main(["--corpus", str(corpora), "--locales", str(LOCALES)])
    out = capsys.readouterr().out
    sections = out.split("== ")[1:]
    assert [s.split(":")[0] for s in sections] == [corpora.name, "blind7", "dev"]
    original, blind, dev = sections
    assert status == 0                                   # the original corpus is all right
    assert "total" in original and "100.0% (1/1)" in original
    assert "wrong intent: 0" in original
    # the dev corpus lists its misses with file, line and text, and figures by category
    assert "en.tsv:2: expected help" in dev and "zebra quartz tangerine" in dev
    assert "right by category:" in dev and "who 0/1" in dev
    # the blind corpus: figures and targets only, never a message or a line
    assert "(blind: figures only)" in blind
    assert "50.0% (1/2)" in blind                        # recall: STOP found, the secret one not
    assert "targets: missed:" in blind
    assert SECRET not in out and "zebra" not in blind and "en.tsv" not in blind
    assert "stop by" not in out and "his school" not in out


def test_a_miss_in_the_original_corpus_fails_the_run(corpora, capsys):
    (corpora / "en.tsv").write_text("opt_out\tzebra quartz\n", "utf-8")
    assert main(["--corpus", str(corpora), "--locales", str(LOCALES), "--only", corpora.name]) == 1
    out = capsys.readouterr().out
    assert "dev" not in out and "blind7" not in out      # --only: that corpus alone


def test_targets_name_each_missed_figure():
    report = Report()
    report.languages["xx"] = Report(opt_outs=20, opt_outs_found=18)
    report.non_opt_outs, report.false_opt_outs = 100, 2
    report.opt_ins, report.opt_ins_found, report.helps, report.helps_found = 10, 9, 10, 8
    report.nones, report.nones_to_review = 100, 6
    assert target_misses(report) == ["opt-out recall xx 90% < 95%", "false opt-outs 2.0% > 1%",
                                     "help 80% < 90%", "none -> review 6.0% > 5%"]
    assert target_misses(Report(languages={"yy": Report(opt_outs=19, opt_outs_found=1)})) == []
