"""Universe settings: tiers, exclusions, clusters and their caps (the original bot's theme caps),
eligibility hysteresis."""

from __future__ import annotations

from trader247.core.config import LiquidityConfig, show_value
from trader247.migrate.model import BadValue, Context, Row, Status, flag, number, symbols
from trader247.migrate.source import Leaf

POLICY, UNIVERSE = "policy.yaml", "universe.yaml"
THEME_ALIASES = {"L1": "LAYER1", "L2": "LAYER2", "L3": "LAYER3"}


def _mapped(leaf: Leaf, file: str, path: tuple[str, ...], value: object, note: str) -> Row:
    return Row(leaf, Status.MAPPED, note, f"{file} {'.'.join(path)}", value)


def _usd(value: object) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return float(value) if ok else None  # type: ignore[arg-type]


def global_floor(ctx: Context) -> float:
    """The original's global volume floor: policy.yaml ``liquidity`` (or, before that section
    existed, ``microstructure``), else universe.yaml ``liquidity``, else 247trader's default."""
    for file, section in ((POLICY, "liquidity"), (POLICY, "microstructure"),
                          (UNIVERSE, "liquidity")):
        value = _usd(ctx.src(file, section, "min_24h_volume_usd"))
        if value is not None:
            return value
    return float(LiquidityConfig.model_fields["min_24h_volume_usd"].default)


def tier_floor_usd(ctx: Context, name: str) -> float:
    """A tier's floor; a tier without one (early versions' tier 3) has the global floor."""
    own = _usd(ctx.src(UNIVERSE, "tiers", name, "constraints", "min_24h_volume_usd"))
    return global_floor(ctx) if own is None else own


def ordered_tiers(ctx: Context) -> list[str]:
    """Tier names by floor, highest first (247trader's order rule); file order breaks ties."""
    tiers = ctx.src(UNIVERSE, "tiers")
    if not isinstance(tiers, dict):
        return []
    return sorted(tiers, key=lambda name: -tier_floor_usd(ctx, str(name)))


def fill_missing_floors(ctx: Context) -> list[str]:
    """Give every tier without a ``min_24h_volume_usd`` the global floor; report lines."""
    notes = []
    for name, tier in (ctx.out.get(UNIVERSE, ("tiers",)) or {}).items():
        if "min_24h_volume_usd" not in tier.get("constraints", {}):
            floor = global_floor(ctx)
            ctx.out.put(UNIVERSE, ("tiers", name, "constraints", "min_24h_volume_usd"), floor,
                        None)
            notes.append(f"universe.yaml tiers.{name} has no constraints.min_24h_volume_usd in "
                         f"the source: it gets the global floor {show_value(floor)} USD")
    return notes


def tier_symbols(ctx: Context, leaf: Leaf) -> Row:
    tier = str(leaf.path[1])
    value = symbols(leaf)
    path = ("tiers", tier, "symbols")
    ctx.out.put(UNIVERSE, path, value, leaf)
    note = "the tier's symbols (Coinbase form BTC-USD is accepted as is)"
    if not value:
        note = "no symbols: the tier stays empty"
    return _mapped(leaf, UNIVERSE, path, value, note)


def tier_floor(ctx: Context, leaf: Leaf) -> Row:
    tier = str(leaf.path[1])
    number(leaf, gt=0)
    value = leaf.value
    path = ("tiers", tier, "constraints", "min_24h_volume_usd")
    ctx.out.put(UNIVERSE, path, value, leaf)
    note = "the tier's 24 h USD volume floor"
    order = ordered_tiers(ctx)
    file_order = list(ctx.src(UNIVERSE, "tiers"))
    if order != file_order and tier == order[0]:
        note += ("; tiers are written highest floor first, as 247trader requires: "
                 + ", ".join(order) + " (each tier keeps its floor, symbols and name)")
    return _mapped(leaf, UNIVERSE, path, value, note)


def force_eligible(ctx: Context, leaf: Leaf) -> Row:
    tier = str(leaf.path[1])
    value = symbols(leaf)
    path = ("tiers", tier, "constraints", "force_eligible_symbols")
    ctx.out.put(UNIVERSE, path, value, leaf)
    return _mapped(leaf, UNIVERSE, path, value,
                   "bypass the volume floor (force-eligible core assets)")


def never_trade(ctx: Context, leaf: Leaf) -> Row:
    value = symbols(leaf)
    path = ("exclusions", "never_trade")
    ctx.out.put(UNIVERSE, path, value, leaf)
    return _mapped(leaf, UNIVERSE, path, value, "never traded, whatever the volume; "
                   "stablecoin bases (USDT, USDC, DAI, ...) are excluded besides by "
                   "liquidity.exclude_stablecoin_bases")


def tier_count(ctx: Context, leaf: Leaf) -> Row:
    count = int(number(leaf, integer=True, ge=0))
    tier = str(leaf.path[1])
    listed = ctx.src(UNIVERSE, "tiers", tier, "symbols") or []
    if count == 0 and listed:
        raise BadValue(f"0 allows no symbol, but the tier lists {len(listed)}; "
                       "remove them or raise the limit")
    return Row(leaf, Status.COVERED, "the tier trades the symbols it lists "
               f"({len(listed)}); there is no separate count limit")


# --------------------------------------------------------------------------- clusters


def cluster_assets(ctx: Context, leaf: Leaf) -> Row:
    name = str(leaf.path[2])
    assets: list[str] = []
    for symbol in symbols(leaf):
        asset = symbol.replace("/", "-").split("-", 1)[0]
        if asset not in assets:
            assets.append(asset)
    path = ("clusters", "definitions", name)
    ctx.out.put(UNIVERSE, path, assets, leaf)
    return _mapped(leaf, UNIVERSE, path, assets, "the cluster's assets (a pair's base: all its "
                   "quotes count toward risk.max_per_cluster_pct)")


def clusters_enabled(ctx: Context, leaf: Leaf) -> Row:
    on = flag(leaf)
    if on:
        return Row(leaf, Status.COVERED, "cluster caps apply whenever risk.max_per_cluster_pct "
                   "names a cluster")
    return Row(leaf, Status.COVERED, "off: no cluster cap is written (risk.max_per_cluster_pct {})")


def resolve_theme(ctx: Context, theme: str) -> str | None:
    """The cluster a theme limit is for: its name, a known abbreviation (L2 -> LAYER2), or the
    same name in another case; None when universe.yaml defines no such cluster."""
    defined = ctx.src(UNIVERSE, "clusters", "definitions")
    if not isinstance(defined, dict):
        return None
    for candidate in (theme, THEME_ALIASES.get(theme.upper(), "")):
        if candidate in defined:
            return candidate
    folded = {str(name).upper(): str(name) for name in defined}
    return folded.get(theme.upper())


def cluster_cap(ctx: Context, leaf: Leaf) -> Row:
    """A theme limit of the original bot (its word for a cluster) as ``risk.max_per_cluster_pct``
    of the cluster it names."""
    theme = str(leaf.path[-1])
    value = number(leaf, gt=0, le=100)
    if ctx.src(UNIVERSE, "clusters", "enabled") is False:
        return Row(leaf, Status.DROPPED, "universe.yaml clusters.enabled is false: the original "
                   "bot applied no theme cap")
    cluster = resolve_theme(ctx, theme)
    if cluster is None:
        return Row(leaf, Status.DROPPED, f"no cluster {theme} in universe.yaml "
                   "clusters.definitions: the original bot had nothing to apply it to")
    path = ("risk", "max_per_cluster_pct", cluster)
    kept = ctx.out.put_min(POLICY, path, value, leaf)
    note = "at-risk cap of the cluster, % of equity (entries clamped, trims inside the cluster)"
    if cluster != theme:
        note += f" ({theme} is cluster {cluster} of universe.yaml)"
    if kept != value:
        note += f"; two limits for {cluster}: the smaller ({show_value(kept)}) is kept"
    return _mapped(leaf, POLICY, path, value, note)


# --------------------------------------------------------------------------- hysteresis


def hysteresis_enabled(ctx: Context, leaf: Leaf) -> Row:
    if flag(leaf):
        return Row(leaf, Status.COVERED, "on: liquidity.exit_band comes from exit_mult below")
    path = ("liquidity", "exit_band")
    ctx.out.put(POLICY, path, 0.0, leaf)
    return _mapped(leaf, POLICY, path, 0.0, "off: no hysteresis band")


def exit_mult(ctx: Context, leaf: Leaf) -> Row:
    mult = number(leaf, gt=0, le=1)
    if ctx.src(UNIVERSE, "eligibility_hysteresis", "enable") is False:
        return Row(leaf, Status.DROPPED, "eligibility_hysteresis.enable is false")
    band = round(1 - mult, 10)
    path = ("liquidity", "exit_band")
    ctx.out.put(POLICY, path, band, leaf)
    return _mapped(leaf, POLICY, path, band, f"an eligible pair leaves below floor x "
                   f"{show_value(mult)}, i.e. floor x (1 - exit_band)")


def enter_mult(ctx: Context, leaf: Leaf) -> Row:
    mult = number(leaf, gt=0)
    if mult == 1:
        return Row(leaf, Status.COVERED, "247trader admits a pair at its floor (x 1.0) as well")
    return Row(leaf, Status.COVERED, f"247trader admits a pair at its floor; to admit only at "
               f"floor x {show_value(mult)}, raise the tier floors by that factor (the exit band "
               "then counts from the raised floor)")


def confirm_cycles(ctx: Context, leaf: Leaf) -> Row:
    number(leaf, integer=True, ge=0)
    return Row(leaf, Status.COVERED, "no confirmation count: the exit band (liquidity.exit_band) "
               "and the pairlist's refresh_period keep a pair at its floor from flapping")


def stale_candles(ctx: Context, leaf: Leaf) -> Row:
    seconds = number(leaf, gt=0)
    candles = int(seconds // 3600)  # the migrated config trades 1h candles
    ctx.out.put(POLICY, ("stale_data", "block_entries"), True, leaf)
    path = ("stale_data", "max_missing_candles")
    ctx.out.put(POLICY, path, candles, leaf)
    return _mapped(leaf, POLICY, path, candles, f"no entry on candles older than "
                   f"{show_value(seconds)} s: on 1h candles that is {candles} missing candle(s)")


def min_universe(ctx: Context, leaf: Leaf) -> Row:
    value = int(number(leaf, integer=True, ge=0))
    path = ("liquidity", "min_universe_size")
    ctx.out.put(POLICY, path, value, leaf)
    return _mapped(leaf, POLICY, path, value, "fewer eligible pairs are reported "
                   "(UNIVERSE_SMALL); the bot keeps trading the ones it has")
