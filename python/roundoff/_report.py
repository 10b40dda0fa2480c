"""The report of check() and run(): the CLI's report, as Python objects.

A Report wraps the engine's report (report::results, rendered by the same C++ code as the CLI's
``--format`` outputs). Its Python view is built from the stable JSON schema (docs/cli.md, "JSON
schema"), so keys that the engine adds later appear as attributes without a change here.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
from typing import Any, Dict, Iterator, List, Optional, Tuple

# JSON has no inf/nan: the schema writes them as the strings "inf", "-inf", "nan". These keys
# hold text, never such numbers (an output may well be named "inf").
_TEXT_KEYS = frozenset(
    {"name", "a", "b", "declared", "verdict", "explanation", "file", "device",
     "thread_library", "notes", "command", "op", "method", "consistent_models"}
)
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _numbers(value: Any, key: str = "") -> Any:
    if key == "params" or key in _TEXT_KEYS:
        return value
    if isinstance(value, dict):
        return {k: _numbers(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v, key) for v in value]
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    return value


class _Record:
    """A read-only view of one JSON object: its keys are attributes (and items)."""

    __slots__ = ("_data",)

    def __init__(self, data: Dict[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r} (fields: {', '.join(self._data)})"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self._data))

    def keys(self) -> List[str]:
        return list(self._data)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object this record was read from (non-finite numbers as floats)."""
        return copy.deepcopy(self._data)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._data == self._data  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class WorstElement(_Record):
    """One of the worst elements of an output (worst first)."""

    index: Tuple[int, ...]  #: multi-dimensional index into the output
    observed: float  #: the output's value there
    exact: float  #: the exact result, rounded once to float64
    bound: float  #: the declared arithmetic's deterministic error bound there

    def __init__(self, data: Dict[str, Any]) -> None:
        data = dict(data)
        data["index"] = tuple(data.get("index", ()))
        super().__init__(data)

    def __repr__(self) -> str:
        return (f"WorstElement(index={self.index}, observed={self.observed!r}, "
                f"exact={self.exact!r}, bound={self.bound!r})")


class Result(_Record):
    """One output judged against the exact result (a row of the CLI's results table).

    Every key of the JSON schema's ``results[]`` objects is an attribute: ``name``,
    ``declared``, ``verdict`` ("consistent", "no guarantee", "suspicious", "violation", or
    "skipped" in run),
    ``max_abs_error``, ``max_rel_error``, ``max_ratio_deterministic``,
    ``max_ratio_probabilistic``, ``consistent_models``, ``explanation``, ``worst``,
    ``elements``, ``counts``, ``source``; numbers are None for a skipped implementation.
    ``bit_identical_to`` names the sm_90 tensor-core emulation the output equals bit for bit
    ("sm_90 tensor cores (tf32, K-blocks of 8 in sequence)"; docs/tensor-cores.md §3), None when
    none was tried or none matched (the JSON key is then absent, as in the CLI's). It never
    changes the verdict.
    """

    name: str
    declared: str
    verdict: str
    max_abs_error: Optional[float]
    max_rel_error: Optional[float]
    max_ratio_deterministic: Optional[float]
    max_ratio_probabilistic: Optional[float]
    consistent_models: List[str]
    explanation: str
    worst: List[WorstElement]
    elements: Optional[int]
    counts: Dict[str, int]
    source: Dict[str, Any]

    def __init__(self, data: Dict[str, Any]) -> None:
        data = dict(data)
        data["worst"] = [WorstElement(w) for w in data.get("worst", [])]
        super().__init__(data)

    @property
    def bit_identical_to(self) -> Optional[str]:
        """The tensor-core emulation this output equals bit for bit, or None (check only)."""
        return self._data.get("bit_identical_to")

    def to_dict(self) -> Dict[str, Any]:
        d = dict(self._data)
        d["worst"] = [w.to_dict() for w in d["worst"]]
        return copy.deepcopy(d)

    def __repr__(self) -> str:
        return (f"Result(name={self.name!r}, declared={self.declared!r}, "
                f"verdict={self.verdict!r}, max_ratio_deterministic="
                f"{self._data.get('max_ratio_deterministic')!r})")


class Comparison(_Record):
    """Two outputs judged against each other (a row of the CLI's comparisons table).

    Attributes: ``a``, ``b`` (result names), ``differing`` (elements that differ),
    ``max_abs_difference``, ``verdict``, ``elements``, ``max_ratio`` (max |a - b| / what rounding
    in both allows), ``explanation``.
    """

    a: str
    b: str
    differing: int
    max_abs_difference: float
    verdict: str
    elements: int
    max_ratio: float
    explanation: str

    def __repr__(self) -> str:
        return (f"Comparison(a={self.a!r}, b={self.b!r}, differing={self.differing!r}, "
                f"verdict={self.verdict!r})")


# CSV columns that hold text; every other column holds numbers (empty: not applicable).
_CSV_TEXT = frozenset({"kind", "name", "other", "declared", "verdict", "consistent_models",
                       "explanation"})


class Report:
    """What ``roundoff check`` / ``roundoff run`` report, for Python.

    - ``ok``: False when any verdict is a violation (or suspicious, with fail_on="suspicious"):
      the CLI's exit code 1.
    - ``results``: ``{name: Result}`` in report order; ``comparisons``: ``[Comparison]``.
    - ``op``, ``command``, ``params``, ``reference``: the report's header.
    - ``to_json()``, ``to_markdown()``, ``to_latex()``, ``to_csv()``, ``to_table()`` (also
      ``str(report)``): the CLI's ``--format json|markdown|latex|csv|table`` output, byte for
      byte; ``to_dict()`` the parsed JSON; ``to_pandas()`` a DataFrame with the CSV's columns.
    """

    def __init__(self, core: Any, fail_on: str) -> None:
        self._core = core
        self._fail_on = fail_on
        self._parsed: Optional[Dict[str, Any]] = None

    # --- the CLI's renderings -------------------------------------------------------------
    def to_json(self) -> str:
        """The JSON document of ``--format json`` (schema_version 1, docs/cli.md)."""
        return self._core.render("json")

    def to_markdown(self) -> str:
        """The report as ``--format markdown`` writes it."""
        return self._core.render("markdown")

    def to_latex(self) -> str:
        """The results and comparisons as booktabs tabulars (``--format latex``)."""
        return self._core.render("latex")

    def to_csv(self) -> str:
        """One table, a row per result then per comparison (``--format csv``)."""
        return self._core.render("csv")

    def to_table(self) -> str:
        """The terminal report (``--format table``, without colour)."""
        return self._core.render("table")

    def __str__(self) -> str:
        return self.to_table()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_dict(self) -> Dict[str, Any]:
        """The parsed JSON document; "inf"/"-inf"/"nan" strings are floats again."""
        return copy.deepcopy(self._doc())

    def to_pandas(self) -> Any:
        """A pandas DataFrame with the CSV report's columns (docs/cli.md, "Output formats"): one row per
        result (kind "result") then per comparison (kind "comparison"). Needs pandas."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("Report.to_pandas() needs pandas (pip install pandas)") from e
        rows = list(csv.reader(io.StringIO(self.to_csv(), newline="")))
        header, body = rows[0], rows[1:]
        columns: Dict[str, list] = {}
        for i, col in enumerate(header):
            values = [r[i] for r in body]
            if col in _CSV_TEXT:
                columns[col] = [v if v != "" else None for v in values]
            else:
                columns[col] = [float(v) if v != "" else math.nan for v in values]
        frame = pd.DataFrame(columns, columns=header)
        if "differing" in frame:
            frame["differing"] = frame["differing"].astype("Int64")
        return frame

    # --- the parsed view ------------------------------------------------------------------
    def _doc(self) -> Dict[str, Any]:
        if self._parsed is None:
            self._parsed = _numbers(json.loads(self.to_json()))
        return self._parsed

    @property
    def ok(self) -> bool:
        """False when a verdict is a violation (or suspicious, with fail_on="suspicious")."""
        return self._core.exit_code(self._fail_on == "suspicious") == 0

    @property
    def results(self) -> Dict[str, Result]:
        """Each output's verdict, by name, in report order."""
        return {r["name"]: Result(r) for r in self._doc()["results"]}

    @property
    def comparisons(self) -> List[Comparison]:
        """Each compared pair of outputs."""
        return [Comparison(c) for c in self._doc()["comparisons"]]

    @property
    def op(self) -> str:
        return self._doc()["op"]

    @property
    def command(self) -> str:
        """"check" or "run"."""
        return self._doc()["command"]

    @property
    def params(self) -> Dict[str, Any]:
        """The report's parameters (shapes, formats, op arguments, declared, confidence...)."""
        return dict(self._doc()["params"])

    @property
    def reference(self) -> Dict[str, Any]:
        return dict(self._doc()["reference"])

    def __getitem__(self, name: str) -> Result:
        return self.results[name]

    def __iter__(self) -> Iterator[Result]:
        return iter(self.results.values())

    def __len__(self) -> int:
        return len(self._doc()["results"])

    def __repr__(self) -> str:
        counts: Dict[str, int] = {}
        for r in self._doc()["results"]:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        summary = ", ".join(f"{n} {v}" for v, n in counts.items())
        return f"<roundoff.Report {self.command} {self.op}: {summary}; ok={self.ok}>"
