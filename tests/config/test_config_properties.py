"""Whatever the input, the loader returns a model or raises ConfigFileError: nothing else."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trader247.configfiles import ConfigFileError, parse_policy, parse_universe
from trader247.core.config import PolicyConfig, UniverseConfig

SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
PARSERS = (parse_policy, parse_universe)


def _dump(doc: Any) -> str:
    # libyaml's emitter when present: the pure-Python one would dominate the run time.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(doc, Dumper=dumper, allow_unicode=True, sort_keys=False)


# Real key names, so generated structures reach deep into the models, plus free text.
KEYS = sorted(
    {"liquidity", "risk", "trims", "shutdown", "metrics", "sizing", "tiers", "exclusions"}
    | set(PolicyConfig.model_json_schema()["$defs"]["RiskConfig"]["properties"])
    | {"symbols", "constraints", "min_24h_volume_usd", "force_eligible_symbols", "never_trade"}
    | {"tier_1_core", "tier_2_rotational", "tier_stake_pct", "port", "host", "enabled"}
)
# Cheap strategies on purpose: with 2 shared cores, generation must not dominate the run.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([0.0, -0.5, 0.01, 25.0, 100.01, 1e300, float("inf"), float("nan")]),
    st.sampled_from(["BTC-USD", "BTC/USD", "BTC", "btc-usd", "USDC", "proportional", "", "25%"]),
    st.text(max_size=6),
)
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from(["", "x", "Risk", "tier_9", "ü", "1"]))


def _nest(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(inner, st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4))


# Two fixed levels instead of st.recursive: same shapes here, 2.5x cheaper to generate.
structures = _nest(_nest(scalars))


def _check(parse: Any, data: bytes | str) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = len(text.splitlines()) + 1  # YAML also breaks lines at \r, \x85, \u2028, \u2029
    try:
        parse(data, file="f.yaml")
    except ConfigFileError as exc:
        assert exc.errors, "raised without an error"
        for p in exc.problems:
            assert p.file == "f.yaml"
            assert p.line is None or 1 <= p.line <= lines, p
            assert p.format().startswith("f.yaml")


@SETTINGS
@given(text=st.text(max_size=300), which=st.sampled_from(PARSERS))
def test_arbitrary_text(text: str, which: Any) -> None:
    _check(which, text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(data=st.binary(max_size=300), which=st.sampled_from(PARSERS))
def test_arbitrary_bytes(data: bytes, which: Any) -> None:
    _check(which, data)


@SETTINGS
@given(doc=st.dictionaries(keys, structures, max_size=4), which=st.sampled_from(PARSERS))
def test_arbitrary_structures(doc: dict[str, Any], which: Any) -> None:
    _check(which, _dump(doc))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


VALID = {
    parse_policy: PolicyConfig().model_dump(mode="json"),
    parse_universe: UniverseConfig().model_dump(mode="json"),
}


@SETTINGS
@given(which=st.sampled_from(PARSERS), pick=st.integers(min_value=0), value=structures)
def test_one_mutation_of_a_valid_file(which: Any, pick: int, value: Any) -> None:
    """Replace one value anywhere in a valid document: rejected cleanly, or accepted."""
    doc = copy.deepcopy(VALID[which])
    paths = [p for p in _paths(doc) if p]
    path = paths[pick % len(paths)]
    parent = doc
    for elem in path[:-1]:
        parent = parent[elem]
    parent[path[-1]] = value
    _check(which, _dump(doc))
