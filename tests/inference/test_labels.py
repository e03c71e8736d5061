import pytest

from audiocnn.inference.labels import read_labels, resolve_labels


def test_class_labels_indices_csv_ordered_by_index(tmp_path):
    p = tmp_path / "class_labels_indices.csv"
    # rows out of order and a display name with a comma (quoted, as in AudioSet's file)
    p.write_text('index,mid,display_name\n2,/m/03,"Child speech, kid speaking"\n0,/m/01,Speech\n1,/m/02,Male speech\n')
    assert read_labels(p) == ["Speech", "Male speech", "Child speech, kid speaking"]


def test_csv_index_must_be_a_permutation(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("index,mid,display_name\n0,/m/01,a\n2,/m/02,b\n")
    with pytest.raises(ValueError, match="0..1"):
        read_labels(p)


def test_one_label_per_line(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text("# my classes\ndog\n\ncat bark\nbird\n")
    assert read_labels(p) == ["dog", "cat bark", "bird"]


def test_resolve_order_and_count_check(tmp_path):
    assert resolve_labels(None, 3) == ["class_0", "class_1", "class_2"]
    assert resolve_labels(None, 2, {"labels": ["x", "y"]}) == ["x", "y"]
    assert resolve_labels(["a", "b"], 2, {"labels": ["x", "y"]}) == ["a", "b"]  # explicit beats metadata
    with pytest.raises(ValueError, match="3 labels but the model has 2"):
        resolve_labels(["a", "b", "c"], 2)
    with pytest.raises(FileNotFoundError):
        resolve_labels(tmp_path / "nope.csv", 2)
