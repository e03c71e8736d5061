"""The parser building blocks of the commands (audiocnn.cli.options) and the --folds type."""

import argparse
import re

import pytest

from audiocnn.cli.argtypes import float_range, folds, int_range
from audiocnn.cli.options import add_command, add_flags, flag, flag_values
from audiocnn.train.options import Option, interval_rule, outside_interval

TABLE = (
    flag("--min-gap", type=float, default=0.5, help="a gap"),
    flag("--out", default=None, param="out_dir"),
    flag("--windows", action="store_true", convert=lambda on: True if on else None),
)


def test_flag_table_adds_flags_in_order_and_gives_the_keywords_it_feeds():
    p = argparse.ArgumentParser()
    add_flags(p, TABLE)
    assert [a.option_strings for a in p._actions[1:]] == [["--min-gap"], ["--out"], ["--windows"]]
    assert flag_values(p.parse_args([]), TABLE) == {"min_gap": 0.5, "out_dir": None, "windows": None}
    given = p.parse_args(["--min-gap", "2", "--out", "x", "--windows"])
    assert flag_values(given, TABLE) == {"min_gap": 2.0, "out_dir": "x", "windows": True}


def test_add_command_keeps_the_epilog_as_written():
    sub = argparse.ArgumentParser(prog="audiocnn").add_subparsers()
    p = add_command(sub, "x", help="h", epilog="examples:\n  audiocnn x a\n  audiocnn x b\n")
    assert "examples:\n  audiocnn x a\n  audiocnn x b" in p.format_help()


def test_folds_takes_words_or_an_integer_of_at_least_two():
    parse = folds(logo="logo", predefined=None)
    assert parse("logo") == "logo" and parse("predefined") is None and parse("7") == 7
    with pytest.raises(argparse.ArgumentTypeError, match=">= 2"):
        parse("1")
    with pytest.raises(argparse.ArgumentTypeError, match="'logo' or 'predefined'"):
        parse("leave-one-out")


@pytest.mark.parametrize("low, high, low_open, high_open, inside, outside", [
    (0, 1, False, True, ["0", "0.5"], ["1", "-0.1", "nan", "inf"]),
    (0, None, True, False, ["1e-9", "3"], ["0", "-1"]),
])
def test_command_line_and_recipe_checks_share_one_interval(low, high, low_open, high_open, inside, outside):
    parse = float_range(low, high, low_open=low_open, high_open=high_open)
    opt = Option("", low=low, high=high, low_open=low_open, high_open=high_open)
    for text in inside:
        assert parse(text) == float(text)
        opt.check_range(float(text))
    for text in outside:
        assert outside_interval(float(text), low, high, low_open, high_open)
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(f"must be {interval_rule(low, high, low_open, high_open)}")):
            parse(text)
        with pytest.raises(ValueError, match="must be"):
            opt.check_range(float(text))


def test_interval_rule_text():
    assert interval_rule(1, None) == ">= 1"
    assert interval_rule(0, 1, False, True) == "in [0, 1)"
    assert interval_rule(None, 5, high_open=True) == "< 5"
    assert interval_rule(None, None) == "a finite number"
    with pytest.raises(argparse.ArgumentTypeError, match="must be >= 1, got 0"):
        int_range(1)("0")
