"""The reader's own data: read a CSV file, a NumPy `.npz` file or arrays, check every value, fingerprint the result,
and keep it where worker processes (and later sessions) find it by that fingerprint.

    own = read("my.csv", label="species")                           # split drawn by split_seed, class-stratified
    own = read("my.csv", label="species", split_column="split")     # the reader's split: rows marked train/val/test
    own = read({"train": "a.csv", "val": "b.csv", "test": "c.csv"}, label="species")
    own = read("my.npz")          # arrays x, y (split drawn) or x_train, y_train, x_val, y_val, x_test, y_test
    own = read((x, y)) or read({"train": (x, y), "val": (x, y), "test": (x, y)})   # arrays or tensors

Inputs become float32 [N, ...], labels int64 [N] in 0..K-1. Features are standardised with the training split's mean
and std (`standardize=False` keeps them as they are). Every mistake is a ConfigError naming the parameter, the value
and what is allowed, raised before anything is written or trained.

A CSV file is taken as it comes: a label column of text (class names) is mapped to 0..K-1 in the sorted
order of the names, which are kept (`OwnData.class_names`) for messages, the audit's answer, table and figure; a
feature column of true/false values becomes 1/0; a feature column of text is one-hot encoded (pandas), one column
"name=category" per category in sorted order, when it has at most MAX_CATEGORIES distinct values, and refused by name
otherwise (an identifier or free text: leave it out with `features=`). A missing value (an empty cell) is refused,
naming its columns and rows, unless `drop_missing=True`: then those rows are left out and counted
(`OwnData.dropped`).

The fingerprint is the SHA-256 of the arrays the models see (each split's float32 inputs and int64 labels with their
shapes, and the number of classes), not of the file: renaming, moving or re-saving the same numbers (even as .npz
instead of .csv) gives the same fingerprint and so the same run keys; one changed value gives a new one. A run config
names its data only by it (`dataset="own", data={"fingerprint": ...}`); `store(own, results_dir)` writes the arrays
to `<results_dir>/data/<fingerprint>.npz`, from which `stored(fingerprint, results_dir)` loads them in any process.

A teacher checkpoint is handled the same way: its SHA-256 enters the run key, and `store_checkpoint` copies the file
to `<results_dir>/checkpoints/<sha256>.pt`, loaded with `torch.load(..., weights_only=True)`.
"""
from __future__ import annotations

import hashlib
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import Dataset, from_tensors
from .errors import ConfigError, check_range
from .store import atomic_write
from .text import default_data_dir

OWN = "own"  # the dataset name of a run on the reader's own data
SPLITS = ("train", "val", "test")
ROWS = "(rows: 0-based data rows, header excluded)"  # how a CSV's rows are counted in messages
MIN_PER_CLASS = 2  # training samples every class needs at every α (nested_subset keeps round(α · n_c) of class c)
MAX_CATEGORIES = 20  # a text feature column with more distinct values is refused, not one-hot encoded
TRUE_FALSE = {"true": 1.0, "false": 0.0}  # a text column holding only these (any case) is a true/false column
_MEMORY: dict = {}  # fingerprint -> Dataset (CPU), so a process reads each stored file once


@dataclass(frozen=True)
class OwnData:
    """The reader's data, checked: the Dataset, its fingerprint, a display name (never part of a key), the feature
    names (a CSV's columns as the models see them, "colour=red" for a one-hot column; None for arrays), how the
    splits were made, in words, the class names (a CSV's text labels, index = label; None for numeric labels), how
    the CSV's columns were encoded, in words, and how many rows with missing values were left out."""
    data: Dataset
    fingerprint: str
    name: str
    features: tuple | None
    split: str
    class_names: tuple | None = None
    encoding: tuple = ()
    dropped: int = 0

    def class_name(self, c: int) -> str:
        """Class c as the reader wrote it: "2 ('class_2')" for a named class, "2" otherwise."""
        return _class_name(c, self.class_names)

    @property
    def config_data(self) -> dict:
        """What a RunConfig's `data` holds for it: the fingerprint alone."""
        return {"fingerprint": self.fingerprint}

    def __repr__(self) -> str:
        d = self.data
        classes = d.num_classes if self.class_names is None else \
            f"{d.num_classes} ({', '.join(f'{i}={n}' for i, n in enumerate(self.class_names))})"
        extra = "".join([f"; encoded: {'; '.join(self.encoding)}" if self.encoding else "",
                         f"; {self.dropped} row(s) with missing values left out (drop_missing=True)"
                         if self.dropped else ""])
        return (f"OwnData({self.name!r}, train={len(d.y_train)}, val={len(d.y_val)}, test={len(d.y_test)}, "
                f"input_shape={d.input_shape}, classes={classes}, fingerprint={self.fingerprint[:16]}…, "
                f"split: {self.split}{extra})")


# ---- reading

def read(source, label: str | None = None, features=None, split_column: str | None = None, val_share: float = 0.2,
         test_share: float = 0.2, split_seed: int = 0, standardize: bool = True, name: str | None = None,
         drop_missing: bool = False) -> OwnData:
    """The reader's data, checked and fingerprinted (see the module docstring for the forms `source` takes).

    label: the label column of a CSV file (integers 0..K-1, or class names: mapped to 0..K-1 in sorted order).
    features: the feature columns (None: every column but the label and the split column; text and true/false
    columns are encoded, see the module docstring). split_column: a column marking each row train / val / test (the
    reader's own split); without it, and for a single array pair, a class-stratified split is drawn by `split_seed`
    with `val_share` and `test_share` of each class. name: for figures and messages (None: the file's stem, or
    "own"). drop_missing: leave out a CSV's rows with an empty feature or label cell (False: refuse them)."""
    check_range("val_share", val_share, low=0, high=1, low_open=True, high_open=True)
    check_range("test_share", test_share, low=0, high=1, low_open=True, high_open=True)
    if val_share + test_share >= 1:
        raise ConfigError(f"val_share + test_share = {val_share + test_share:g} leaves no training data; allowed: "
                          "a sum below 1")
    if not isinstance(split_seed, int) or isinstance(split_seed, bool) or split_seed < 0:
        raise ConfigError(f"split_seed={split_seed!r} is not allowed; allowed: an integer >= 0")
    if standardize not in (True, False):
        raise ConfigError(f"standardize={standardize!r} is not allowed; allowed: True, False")
    if drop_missing not in (True, False):
        raise ConfigError(f"drop_missing={drop_missing!r} is not allowed; allowed: True, False")
    csv = {"names": None, "encoding": (), "dropped": 0}  # what a CSV's encoding adds (class names, notes, rows out)
    if isinstance(source, Dataset):
        parts = {s: (getattr(source, f"x_{s}").cpu().numpy(), getattr(source, f"y_{s}").cpu().numpy(), f"{s} split")
                 for s in SPLITS}
        columns, how = None, "the Dataset's own splits"
    else:
        parts, columns, how = _parts(source, label, features, split_column, drop_missing, csv)
    if columns is None:  # arrays and .npz files: the CSV-only parameters would be ignored, so refuse them
        for param, value in (("features", features), ("split_column", split_column)):
            if value is not None:
                raise ConfigError(f"{param}={value!r} applies to CSV files only; allowed here: None (.npz files and "
                                  "arrays give x and y, and their split by key)")
        label = None
    for where in parts.values():
        _check_finite(*where)
    names = csv["names"]
    k = _check_labels(parts, label)
    if set(parts) == {"all"}:
        x, y, where = parts["all"]
        parts = _draw_split(x, y, where, val_share, test_share, split_seed)
        how = f"drawn by split_seed={split_seed} (class-stratified: val {val_share:g}, test {test_share:g} of each class)"
    _check_shapes(parts)
    _check_train_classes(parts, k, label, names)
    xs = {s: parts[s][0].astype(np.float64) for s in SPLITS}
    if standardize:  # the training split's statistics, applied to every split (a constant feature is only centred)
        mean, std = xs["train"].mean(0), xs["train"].std(0)
        std = np.where(std > 0, std, 1.0)
        xs = {s: (x - mean) / std for s, x in xs.items()}
        how += "; features standardised with the training split's mean and std"
    data = from_tensors(*[a for s in SPLITS for a in (xs[s].astype(np.float32), parts[s][1].astype(np.int64))],
                        num_classes=k, name=OWN)
    fp = fingerprint(data)
    _MEMORY[fp] = data
    return OwnData(data, fp, name or _default_name(source), columns, how, names, tuple(csv["encoding"]),
                   int(csv["dropped"]))


def _default_name(source) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).stem
    if isinstance(source, dict) and isinstance(source.get("train"), (str, Path)):
        return Path(source["train"]).stem
    return OWN


def _parts(source, label, features, split_column, drop_missing, csv):
    """{split: (x, y, where)} with split in train/val/test, or {"all": ...} for data still to be split; the feature
    names (CSV, as encoded) and how the splits were made. `where` says where rows come from, for messages: a string,
    or for a CSV (file name, feature columns, file rows of this part or None). `csv` (a dict) receives the class
    names, the encoding notes and the number of rows left out."""
    if isinstance(source, dict):
        keys = set(source)
        if keys != set(SPLITS):
            raise ConfigError(f"data={_short(source)}: a dict of splits needs exactly the keys train, val, test; "
                              f"got {sorted(map(str, keys))}")
        # one encoding for the three files: class names and categories from all of them
        vocab = _split_files_vocabulary([source[s] for s in SPLITS if _is_csv(source[s])], label, features,
                                        split_column)
        parts, raw = {}, None
        for s in SPLITS:
            parameter = f"data['{s}']"
            if raw is not None and _is_csv(source[s]):
                _check_same_columns(source[s], raw, label, parameter)
            part = _one(source[s], label, features if raw is None else list(raw), None, parameter, drop_missing, vocab)
            if "all" not in part:
                raise ConfigError(f"{parameter} holds its own splits ({', '.join(part)}); allowed: one (x, y) pair "
                                  "or one CSV/.npz file of a single split per key")
            parts[s] = part["all"]
            raw = raw if raw is not None else part.get("raw")
            _collect(csv, part)
        return parts, csv.pop("columns", None), "the reader's own train / val / test"
    part = _one(source, label, features, split_column, "data", drop_missing)
    _collect(csv, part)
    columns = csv.pop("columns", None)
    part = {k: v for k, v in part.items() if k in SPLITS or k == "all"}
    how = "the reader's own train / val / test" if "train" in part else None
    return part, columns, how


def _collect(csv: dict, part: dict) -> None:
    """What one CSV part adds to `csv`: its encoded columns and notes (the same for every split file), its class
    names, its rows left out."""
    if "columns" in part:
        csv.setdefault("columns", part["columns"])
        csv["names"] = part["names"]
        csv["encoding"] = part["encoding"]
        csv["dropped"] += part["dropped"]


def _is_csv(source) -> bool:
    return isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".csv" and Path(source).is_file()


def _check_same_columns(path, columns, label, parameter) -> None:
    """A split's CSV has the training file's feature columns (mismatched shapes between splits)."""
    import pandas as pd

    try:
        header = list(pd.read_csv(path, nrows=0).columns)
    except Exception:
        return  # reported by the full read
    missing = [c for c in columns if c not in header]
    if missing:
        raise ConfigError(f"{parameter}={str(path)!r} lacks feature column(s) {_columns(missing)} that the training "
                          f"file has ({len(columns)} features); allowed: the same feature columns in every split")


def _one(source, label, features, split_column, parameter, drop_missing=False, vocab=None) -> dict:
    """One source: a path (.csv or .npz), or an (x, y) pair."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix.lower() not in (".csv", ".npz"):
            raise ConfigError(f"{parameter}={str(source)!r} is not allowed; allowed: a .csv or .npz file, (x, y) "
                              "arrays, or a dict of them with keys train, val, test")
        if not path.is_file():
            raise ConfigError(f"{parameter}={str(source)!r}: no such file (looked in {path.resolve().parent}); "
                              "allowed: an existing .csv or .npz file")
        if path.suffix.lower() == ".csv":
            return _read_csv(path, label, features, split_column, parameter, drop_missing, vocab)
        return _read_npz(path, parameter)
    if isinstance(source, (tuple, list)) and len(source) == 2:
        x, y = (_array(v, f"{parameter}[{i}]") for i, v in enumerate(source))
        return {"all": (x, y, parameter)}
    raise ConfigError(f"{parameter}={_short(source)} is not allowed; allowed: a .csv or .npz file, (x, y) arrays, "
                      "or a dict of them with keys train, val, test")


def _array(value, parameter) -> np.ndarray:
    a = value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ConfigError(f"{parameter} has dtype {a.dtype}; allowed: numbers (features) and integers 0..K-1 "
                          "(labels)")
    return a


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _columns(names, limit: int = 25) -> str:
    names = [repr(str(n)) for n in names]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _read_frame(path: Path, parameter):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except Exception as e:  # parser errors, encodings, empty files
        raise ConfigError(f"{parameter}={str(path)!r} could not be read as CSV ({type(e).__name__}: {e})") from None


def _is_text(column) -> bool:
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def _split_files_vocabulary(paths, label, features, split_column) -> dict:
    """`_vocabulary` over the CSV files of the three splits (a file that cannot be read is left to its own read,
    which names the problem)."""
    import pandas as pd

    frames = []
    for p in paths:
        try:
            frames.append(pd.read_csv(p))
        except Exception:
            pass
    return _vocabulary(frames, label, features, split_column)


def _vocabulary(frames, label, features, split_column) -> dict:
    """The encoding shared by every file of one data set: the class names (sorted, when the label column is text in
    some file) and each text feature column's categories (sorted, over every file). Unknown columns are left to the
    full read, which names them."""
    names, categories = set(), {}
    text_label = False
    for df in frames:
        if label in df.columns and _is_text(df[label]):
            text_label = True
            names |= set(map(str, df[label].dropna().unique()))
        cols = [c for c in df.columns if c not in (label, split_column)] if features is None else \
            [c for c in features if c in df.columns]
        for c in cols:
            if _is_text(df[c]):
                categories.setdefault(c, set()).update(map(str, df[c].dropna().unique()))
    return {"names": tuple(sorted(names)) if text_label else None,
            "categories": {c: tuple(sorted(v)) for c, v in categories.items()}}


def _read_csv(path: Path, label, features, split_column, parameter, drop_missing=False, vocab=None) -> dict:
    df = _read_frame(path, parameter)
    vocab = vocab or _vocabulary([df], label, features, split_column)
    where = f"{parameter}={str(path)!r}"
    if label is None:
        raise ConfigError(f"label=None with {where}: a CSV file needs its label column named; allowed: one of its "
                          f"columns {_columns(df.columns)}")
    for param, column in (("label", label), ("split_column", split_column)):
        if column is not None and column not in df.columns:
            raise ConfigError(f"{param}={column!r} is not a column of {path.name}; allowed: one of its "
                              f"{len(df.columns)} columns {_columns(df.columns)}")
    if features is None:
        features = [c for c in df.columns if c not in (label, split_column)]
    else:
        features = list(features)
        missing = [c for c in features if c not in df.columns]
        if missing:
            raise ConfigError(f"features contains {_columns(missing)}, not column(s) of {path.name}; allowed: its "
                              f"columns {_columns(df.columns)}")
        if label in features:
            raise ConfigError(f"features contains the label column {label!r}; allowed: the other columns")
    if not features:
        raise ConfigError(f"{where} has no feature column besides label={label!r}; allowed: a file with at least "
                          "one feature column")
    rows = np.arange(len(df))  # the file's data rows that stay (all, unless drop_missing leaves some out)
    empty = df[features + [label]].isna().to_numpy()
    dropped = 0
    if empty.any() and drop_missing:
        keep = ~empty.any(1)
        dropped, rows, df = int((~keep).sum()), rows[keep], df[keep].reset_index(drop=True)
        if not len(df):
            raise ConfigError(f"drop_missing=True leaves no row of {path.name}: every row has an empty cell in "
                              f"{_columns([c for j, c in enumerate(features + [label]) if empty[:, j].any()])}; "
                              "allowed: fill those cells, or leave those columns out with features=[...]")
    elif empty.any():
        _refuse_empty(df, features, label, empty, path.name)
    x, columns, notes = _encode(df, features, vocab["categories"], path.name, rows)
    y, names = _label_values(df[label], vocab["names"])
    file_rows = rows if dropped else None
    common = {"columns": tuple(columns), "raw": tuple(features), "names": names, "encoding": tuple(notes),
              "dropped": dropped}
    if split_column is None:
        return {"all": (x, y, (path.name, list(columns), file_rows)), **common}
    marks = df[split_column].astype(str).str.strip().str.lower()
    unknown = sorted(set(marks) - set(SPLITS))
    if unknown:
        first = int(rows[np.flatnonzero(~marks.isin(SPLITS))[0]])
        raise ConfigError(f"split_column={split_column!r} holds {_columns(unknown, 5)} (first in row {first}); "
                          "allowed: train, val, test")
    out = {}
    for s in SPLITS:
        m = (marks == s).to_numpy()
        if not m.any():
            raise ConfigError(f"split_column={split_column!r} marks no row as {s!r}; allowed: every one of train, "
                              "val, test at least once")
        out[s] = (x[m], y[m], (path.name, list(columns), rows[m]))
    return {**out, **common}


def _refuse_empty(df, features, label, empty, file_name) -> None:
    """Empty cells, without drop_missing: how many and where (columns, rows), infinite numbers counted with them."""
    bad = empty.copy()
    numeric = [j for j, c in enumerate(features) if not _is_text(df[c])]
    bad[:, numeric] |= np.isinf(df[[features[j] for j in numeric]].to_numpy(dtype=np.float64))
    places = [f"column {str(c)!r} rows {_rows(np.flatnonzero(bad[:, j]))}" for j, c in enumerate(features)
              if bad[:, j].any()]
    if bad[:, -1].any():
        places.append(f"the label column rows {_rows(np.flatnonzero(bad[:, -1]))}")
    raise ConfigError(f"data: {file_name} has {int(bad.sum())} NaN or infinite value(s): {'; '.join(places)} {ROWS}; "
                      "allowed: a finite number or a category in every feature and label cell (fill those cells, or "
                      "pass drop_missing=True to leave out the rows with empty cells)")


def _encode(df, features, categories, file_name, rows):
    """The feature columns as the models see them: numbers as they are, true/false as 1/0, text one-hot (one column
    "name=category" per category of `categories`, in sorted order). Returns (x float64 [N, D], column names, notes)."""
    import pandas as pd

    blocks, columns, notes = [], [], []
    for c in features:
        col = df[c]
        if not _is_text(col):
            blocks.append(col.to_numpy(dtype=np.float64)[:, None])
            columns.append(c)
            if pd.api.types.is_bool_dtype(col):
                notes.append(f"{str(c)!r}: true/false as 1/0")
            continue
        text = col.astype(str)
        numbers = pd.to_numeric(text.str.strip(), errors="coerce")
        if numbers.notna().any():  # numbers and text in one column: a typo or a marker, not categories
            i = int(np.flatnonzero(numbers.isna().to_numpy())[0])
            raise ConfigError(f"feature column {str(c)!r} in {file_name} holds numbers and text ({text.iloc[i]!r} in "
                              f"row {int(rows[i])} {ROWS}); allowed: numbers only, or text categories only (fix or "
                              "empty those cells, or leave the column out with features=[...])")
        lower = text.str.strip().str.lower()
        if set(lower) <= set(TRUE_FALSE):
            blocks.append(lower.map(TRUE_FALSE).to_numpy(dtype=np.float64)[:, None])
            columns.append(c)
            notes.append(f"{str(c)!r}: true/false as 1/0")
            continue
        cats = categories.get(c) or tuple(sorted(set(text)))
        if len(cats) > MAX_CATEGORIES:
            raise ConfigError(f"feature column {str(c)!r} in {file_name} is text with {len(cats)} distinct values "
                              f"(e.g. {_columns(cats[:3])}): an identifier or free text, not a category; allowed: at "
                              f"most MAX_CATEGORIES = {MAX_CATEGORIES} distinct values (one-hot encoded); leave it "
                              f"out with features=[...] listing the other {len(features) - 1} feature column(s)")
        onehot = pd.get_dummies(pd.Categorical(text, categories=list(cats))).to_numpy(dtype=np.float64)
        blocks.append(onehot)
        columns += [f"{c}={v}" for v in cats]
        notes.append(f"{str(c)!r}: one-hot, {len(cats)} categories ({', '.join(cats)})")
    return np.concatenate(blocks, axis=1), columns, notes


def _label_values(column, names=None):
    """A label column as numbers (checked for integers 0..K-1 later) and the class names: text labels become their
    index in `names` (sorted; None: this column's own names)."""
    if not _is_text(column):
        return column.to_numpy(dtype=np.float64), None
    text = column.astype(str)
    names = tuple(sorted(set(text))) if names is None else tuple(names)
    index = {n: i for i, n in enumerate(names)}
    return text.map(index).to_numpy(dtype=np.float64), names


def _class_name(c: int, names) -> str:
    return f"{c} ({names[c]!r})" if names is not None and 0 <= c < len(names) else str(c)


def _read_npz(path: Path, parameter) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise ConfigError(f"{parameter}={str(path)!r} could not be read as .npz without pickles "
                          f"({type(e).__name__}: {e}); allowed: numeric arrays saved with numpy.savez") from None
    keys = set(arrays)
    split_keys = {f"{a}_{s}" for a in "xy" for s in SPLITS}
    if split_keys <= keys:
        return {s: (_array(arrays[f"x_{s}"], f"x_{s}"), _array(arrays[f"y_{s}"], f"y_{s}"), f"{path.name}: x_{s}")
                for s in SPLITS}
    if {"x", "y"} <= keys:
        return {"all": (_array(arrays["x"], "x"), _array(arrays["y"], "y"), f"{path.name}: x")}
    raise ConfigError(f"{parameter}={str(path)!r} holds arrays {sorted(keys)}; allowed: x and y (split drawn here), "
                      "or x_train, y_train, x_val, y_val, x_test, y_test (your own split)")


# ---- checks

def _check_finite(x, y, where) -> None:
    """NaN or infinite inputs or labels: how many, and where (CSV: columns and rows; arrays: rows and features)."""
    if len(x) != len(y):
        raise ConfigError(f"{_where(where)}: x has {len(x)} rows but y has {len(y)}; allowed: one label per row")
    if len(x) == 0:
        raise ConfigError(f"{_where(where)} is empty; allowed: at least one row")
    x2 = x.reshape(len(x), -1).astype(np.float64)
    bad_x, bad_y = ~np.isfinite(x2), ~np.isfinite(y.astype(np.float64))
    n = int(bad_x.sum() + bad_y.sum())
    if n == 0:
        return
    if isinstance(where, tuple):  # a CSV: column names and file rows
        file_rows = where[2] if where[2] is not None else np.arange(len(x))
        places = [f"column {str(c)!r} rows {_rows(file_rows[bad_x[:, j]])}" for j, c in enumerate(where[1])
                  if bad_x[:, j].any()]
        if bad_y.any():
            places.append(f"the label column rows {_rows(file_rows[bad_y])}")
        raise ConfigError(f"data: {where[0]} has {n} NaN or infinite value(s): {'; '.join(places)} {ROWS}; allowed: "
                          "finite numbers only (fill or drop those rows first)")
    places = []
    if bad_x.any():
        rows = np.flatnonzero(bad_x.any(1))
        places.append(f"x rows {_rows(rows)} (features {_rows(np.flatnonzero(bad_x.any(0)))})")
    if bad_y.any():
        places.append(f"y rows {_rows(np.flatnonzero(bad_y))}")
    raise ConfigError(f"{where} has {n} NaN or infinite value(s): {'; '.join(places)}; allowed: finite numbers only")


def _rows(idx, limit: int = 8) -> str:
    idx = [int(i) for i in idx]
    return ", ".join(map(str, idx[:limit])) + (f", ... ({len(idx)} in all)" if len(idx) > limit else "")


def _where(where) -> str:
    return f"data: {where[0]}" if isinstance(where, tuple) else str(where)


def _check_labels(parts: dict, label) -> int:
    """Labels are integers 0..K-1 with K >= 2 (every class present in some split); returns K."""
    name = f"label={label!r}" if label is not None else "y"
    ys = {s: p[1] for s, p in parts.items()}
    for s, y in ys.items():
        if y.ndim != 1:
            raise ConfigError(f"{name} ({_where(parts[s][2])}) has shape {y.shape}; allowed: one integer label per "
                              "row, shape [N]")
        yf = y.astype(np.float64)
        bad = np.flatnonzero((yf != np.round(yf)) | (yf < 0))
        if len(bad):
            rows = f" {ROWS}" if isinstance(parts[s][2], tuple) else ""
            raise ConfigError(f"{name} ({_where(parts[s][2])}) holds {_number(y[bad[0]])!r} in row "
                              f"{_row(parts[s][2], bad[0])}"
                              f"{rows} ({len(bad)} such value(s)); allowed: integers 0..K-1 for K classes")
    present = np.unique(np.concatenate([y.astype(np.int64) for y in ys.values()]))
    k = int(present.max()) + 1
    missing = sorted(set(range(k)) - set(present.tolist()))
    if missing:
        raise ConfigError(f"{name} holds classes {_rows(present)} but not {_rows(missing)}; allowed: integers 0..K-1 "
                          f"with every class present (renumber them, e.g. with pandas.factorize)")
    if k < 2:
        raise ConfigError(f"{name} holds a single class (0); allowed: at least two classes")
    return k


def _number(v):
    """A label value as the reader wrote it: 3 rather than 3.0 or np.float64(3.0)."""
    v = v.item() if hasattr(v, "item") else v
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _row(where, i) -> int:
    return int(where[2][i]) if isinstance(where, tuple) and where[2] is not None else int(i)


def _check_shapes(parts: dict) -> None:
    shape = parts["train"][0].shape[1:]
    for s in ("val", "test"):
        x = parts[s][0]
        if x.shape[1:] != shape:
            raise ConfigError(f"x_{s} ({_where(parts[s][2])}) has input shape {x.shape[1:]} but x_train has {shape}; "
                              "allowed: the same input shape in every split")


def _check_train_classes(parts: dict, k: int, label, names=None) -> None:
    counts = np.bincount(parts["train"][1].astype(np.int64), minlength=k)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        name = f"label={label!r}" if label is not None else "y"
        raise ConfigError(f"{name}: class(es) {', '.join(_class_name(int(c), names) for c in empty[:8])} have no "
                          "training samples; allowed: every class 0..K-1 in the training split")


def _draw_split(x, y, where, val_share, test_share, seed) -> dict:
    """Class-stratified: each class's rows shuffled by `seed`, round(share · n_c) to val and test, the rest to train."""
    rng = np.random.default_rng(seed)
    y = y.astype(np.int64)
    chosen = {s: [] for s in SPLITS}
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val, n_test = int(round(val_share * len(idx))), int(round(test_share * len(idx)))
        chosen["val"].append(idx[:n_val])
        chosen["test"].append(idx[n_val:n_val + n_test])
        chosen["train"].append(idx[n_val + n_test:])
    out = {}
    for s in SPLITS:
        idx = np.sort(np.concatenate(chosen[s]))
        if len(idx) == 0:
            raise ConfigError(f"{s}: the drawn split is empty ({len(y)} rows, val_share={val_share:g}, test_share="
                              f"{test_share:g}); allowed: more rows, or larger shares")
        w = (where[0], where[1], idx if where[2] is None else where[2][idx]) if isinstance(where, tuple) else where
        out[s] = (x[idx], y[idx], w)
    return out


def min_fraction(n: int) -> float | None:
    """The smallest α (3 significant digits, rounded up) at which a class of n training samples keeps at least
    MIN_PER_CLASS of them (nested_subset keeps round(α · n)); None if no α ≤ 1 does."""
    if n < MIN_PER_CLASS:
        return None
    a = (MIN_PER_CLASS - 0.5) / n
    digits = 2 - int(math.floor(math.log10(a)))
    a = math.ceil(a * 10 ** digits) / 10 ** digits
    while int(round(a * n)) < MIN_PER_CLASS:  # round() rounds halves to even: step up until it holds
        a += 10 ** -digits
    return min(round(a, digits), 1.0)


def check_fractions(data: Dataset, fractions, parameter: str = "fractions", class_names=None) -> None:
    """Every class keeps at least MIN_PER_CLASS training samples at the smallest α of `fractions`; else a ConfigError
    naming the class (and its name, given `class_names`) and the smallest α that works."""
    smallest = min(float(f) for f in fractions)
    counts = torch.bincount(data.y_train.cpu(), minlength=data.num_classes).tolist()
    short = [(c, n) for c, n in enumerate(counts) if int(round(smallest * n)) < MIN_PER_CLASS]
    if not short:
        return
    c, n = min(short, key=lambda cn: cn[1])
    works = [min_fraction(m) for m in counts]
    if any(w is None for w in works):
        raise ConfigError(f"{parameter}: class {_class_name(c, class_names)} has {n} training sample(s); every class "
                          f"needs at least "
                          f"{MIN_PER_CLASS} training samples at every α, so no α works; allowed: more data of that "
                          "class")
    raise ConfigError(f"{parameter}={list(fractions)}: at the smallest α = {smallest:g}, class "
                      f"{_class_name(c, class_names)} ({n} training "
                      f"samples) keeps round({smallest:g} × {n}) = {int(round(smallest * n))} sample(s); every class "
                      f"needs at least {MIN_PER_CLASS}; allowed: a smallest α ≥ {max(works):g}")


# ---- fingerprint and storage

def fingerprint(data: Dataset) -> str:
    """SHA-256 (64 hex digits) of what the models see: the number of classes and, per split, the float32 inputs and
    int64 labels with their shapes. Independent of file names, formats and the order of the splits' keys."""
    h = hashlib.sha256(f"kdlib own data v1; classes={data.num_classes}".encode())
    for s in SPLITS:
        for kind, t, dtype in (("x", getattr(data, f"x_{s}"), np.float32), ("y", getattr(data, f"y_{s}"), np.int64)):
            a = np.ascontiguousarray(t.detach().cpu().numpy().astype(dtype, copy=False))
            h.update(f"|{kind}_{s} {a.dtype.str} {a.shape}|".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def data_path(results_dir, fp: str) -> Path:
    return Path(results_dir) / "data" / f"{fp}.npz"


def store(own: OwnData, results_dir) -> Path:
    """Write the arrays to <results_dir>/data/<fingerprint>.npz (atomically; kept if already there)."""
    path = data_path(results_dir, own.fingerprint)
    if not path.exists():
        d = own.data
        arrays = {f"{a}_{s}": getattr(d, f"{a}_{s}").cpu().numpy() for s in SPLITS for a in "xy"}
        atomic_write(path, lambda f: np.savez(f, num_classes=np.int64(d.num_classes), **arrays))
    _MEMORY[own.fingerprint] = own.data
    return path


def stored(fp: str, results_dir) -> Dataset:
    """The Dataset of fingerprint `fp`: from this process's memory, else from <results_dir>/data/<fp>.npz (checked
    against its fingerprint)."""
    if fp in _MEMORY:
        return _MEMORY[fp]
    path = data_path(results_dir or "results", fp)
    if not path.is_file():
        raise ConfigError(f"data={{'fingerprint': {fp[:16]!r}...}} is not stored in {path.parent}; allowed: data "
                          "read with kdlib.owndata.read and stored there with kdlib.owndata.store (kdlib.audit does "
                          "both)")
    with np.load(path, allow_pickle=False) as z:
        data = from_tensors(*[z[f"{a}_{s}"] for s in SPLITS for a in "xy"], num_classes=int(z["num_classes"]),
                            name=OWN)
    if fingerprint(data) != fp:
        raise ConfigError(f"{path} does not hold the data of its name (fingerprint {fingerprint(data)[:16]}...); "
                          "delete it and store the data again")
    _MEMORY[fp] = data
    return data


# ---- teacher checkpoints

def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_checkpoint(path, parameter: str = "teacher_checkpoint") -> dict:
    """A state_dict from a file written by torch.save (a state_dict, or a dict holding one under "state_dict"),
    loaded with weights_only=True."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{parameter}={str(path)!r}: no such file (looked in {p.resolve().parent}); allowed: a file "
                          "written by torch.save(model.state_dict(), path)")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{parameter}={str(path)!r} could not be loaded with weights_only=True ({first}); allowed: "
                          "a file written by torch.save(model.state_dict(), path)") from None
    if isinstance(blob, dict) and isinstance(blob.get("state_dict"), dict):
        blob = blob["state_dict"]
    if not isinstance(blob, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in blob.items()):
        raise ConfigError(f"{parameter}={str(path)!r} holds a {type(blob).__name__}, not a state_dict; allowed: a "
                          "file written by torch.save(model.state_dict(), path)")
    return blob


def checkpoint_path(results_dir, digest: str) -> Path:
    return Path(results_dir) / "checkpoints" / f"{digest}.pt"


def store_checkpoint(path, results_dir) -> str:
    """Copy a teacher checkpoint to <results_dir>/checkpoints/<sha256>.pt (kept if there); returns the SHA-256."""
    digest = file_sha256(path)
    dest = checkpoint_path(results_dir, digest)
    if not dest.exists():
        with open(path, "rb") as src:
            atomic_write(dest, lambda f: shutil.copyfileobj(src, f))
    return digest


def load_checkpoint(digest: str, results_dir) -> dict:
    """The state_dict of the stored checkpoint with this SHA-256 (checked), for any process."""
    path = checkpoint_path(results_dir or "results", digest)
    if not path.is_file() or file_sha256(path) != digest:
        raise ConfigError(f"teacher checkpoint sha256={digest[:16]}... is not stored (intact) in {path.parent}; "
                          "allowed: a checkpoint stored with kdlib.owndata.store_checkpoint (kdlib.audit does it)")
    return read_checkpoint(path)


# ---- the embedded example

def example_csv(folder=None) -> Path:
    """scikit-learn's breast cancer data (Wisconsin diagnostic; 569 tumours, 30 numeric features, shipped with
    scikit-learn, so offline) written as `breast_cancer.csv` in `folder` (None: kdlib's data folder), with the label
    column "diagnosis": 0 malignant, 1 benign. The same bytes every time."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "diagnosis"})
    path = Path(folder if folder is not None else default_data_dir()) / "breast_cancer.csv"
    text = frame.to_csv(index=False)
    if not path.exists() or path.read_text() != text:
        atomic_write(path, lambda f: f.write(text.encode()))
    return path
