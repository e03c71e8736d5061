"""The suite's warning filters (pyproject ``[tool.pytest.ini_options] filterwarnings``): a
DeprecationWarning attributed to audiocnn's code fails a test, one of a library's does not."""

import warnings

import pytest


def _warn_from(module: str, category=DeprecationWarning) -> None:
    warnings.warn_explicit("old API", category, filename=f"{module.replace('.', '/')}.py", lineno=1, module=module)


@pytest.mark.parametrize("module", ["audiocnn", "audiocnn.inference.export"])
@pytest.mark.parametrize("category", [DeprecationWarning, PendingDeprecationWarning])
def test_a_deprecation_from_audiocnn_code_is_an_error(module, category):
    with pytest.raises(category, match="old API"):
        _warn_from(module, category)


@pytest.mark.parametrize("module", ["torch.jit._script", "lightning.pytorch.trainer", "audiocnnish"])
def test_a_deprecation_from_elsewhere_stays_a_warning(module):
    with pytest.warns(DeprecationWarning, match="old API"):
        _warn_from(module)


def _hiding_filters(source: str) -> list[int]:
    """Lines of ``warnings.filterwarnings/simplefilter("ignore", ...)`` calls that can hide a
    deprecation: no category and no message (everything), a deprecation category, or a message
    naming a deprecation."""
    import ast

    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("filterwarnings", "simplefilter")):
            continue
        args = node.args
        kw = {k.arg: k.value for k in node.keywords}
        action = args[0] if args else kw.get("action")
        if not (isinstance(action, ast.Constant) and action.value == "ignore"):
            continue
        positional_category = 1 if node.func.attr == "simplefilter" else 2
        category = args[positional_category] if len(args) > positional_category else kw.get("category")
        message = args[1] if node.func.attr == "filterwarnings" and len(args) > 1 else kw.get("message")
        text = ast.unparse(category) if category is not None else ""
        if (category is None and message is None) or any(c in text for c in ("Deprecation", "FutureWarning")) or (
            message is not None and "deprecat" in ast.unparse(message).lower()
        ):
            lines.append(node.lineno)
    return lines


def test_the_filter_finder_sees_hiding_filters():
    source = (
        "import warnings\n"
        "warnings.simplefilter('ignore')\n"
        "warnings.filterwarnings('ignore', category=DeprecationWarning)\n"
        "warnings.simplefilter('ignore', FutureWarning)\n"
        "warnings.filterwarnings('ignore', message='.*is deprecated.*')\n"
        "warnings.simplefilter('ignore', UserWarning)\n"
        "warnings.filterwarnings('ignore', message='.*few workers.*')\n"
        "warnings.simplefilter('always')\n"
    )
    assert _hiding_filters(source) == [2, 3, 4, 5]


def test_no_warning_filter_in_the_package_hides_a_deprecation():
    # the package may record warnings to print them, or ignore named notices; never a deprecation
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "audiocnn"
    bad = [f"{path.relative_to(src)}:{line}" for path in sorted(src.rglob("*.py")) for line in _hiding_filters(path.read_text(encoding="utf-8"))]
    assert not bad, "warning filters that can hide deprecations: " + ", ".join(bad)
