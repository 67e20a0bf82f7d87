"""How scored units stand on sets of questions (a cited clause, a clause group, a standard), as matrix products.

A unit's score on a set of questions is the roll-up every view uses (storage._sql.weighted_mean): the mean of
its known question scores weighted by their weights. Here it is computed for every unit and every set at
once: with S the question x unit matrix of score x weight, W the weights where a score is known and M the
set x question membership, the units' scores on the sets are (M S) / (M W). One product replaces joining every
question score to every set that cites it and grouping the result by set and unit, the work that grew with
the organisation (about 3 million joined rows for 5,000 units).
"""

from __future__ import annotations

import numpy as np
import polars as pl

# Weighted means of whole levels can land a hair below the level they equal (2.9999999999999996).
EPSILON = 1e-9
# Unit scores are rounded to this many decimals before they are compared and ranked: sums taken in another
# order differ in the last bits, and two units with the same answers must tie (and be listed by unit id).
DECIMALS = 12

SCHEMA = pl.Schema({"key_id": pl.String(), "units_scored": pl.Int64(), "lowest": pl.Float64(),
                    "median": pl.Float64(), "highest": pl.Float64(), "at_or_above": pl.Int64(),
                    "below": pl.Int64(), "units_below": pl.String(), "listed": pl.Int64()})


def readiness(scores: pl.DataFrame, keys: pl.DataFrame, compliance_level: int, list_limit: int) -> pl.DataFrame:
    """Per key of `keys` (columns key_id, question_id, named): how the units of `scores` stand on its questions.

    `scores` holds the known question scores to weigh (unit_id, name, question_id, score, weight; one row per
    unit and question). Columns: key_id, units_scored, lowest, median (the mean of the two middle units for
    an even count), highest, at_or_above (units whose score on the key's questions is at least
    `compliance_level`), below, units_below (for keys marked `named`: the names of up to `list_limit` units
    below it, worst first, then by unit id) and listed (how many it names). Keys no unit answered are absent.
    """
    pairs = keys.select("key_id", "question_id").unique()
    if scores.height == 0 or pairs.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    key_ids = pairs["key_id"].unique().sort()
    units = scores.filter(pl.col("unit_id").is_first_distinct()).select("unit_id", "name").sort("unit_id")
    by_key = _unit_scores(scores, pairs, units["unit_id"], key_ids)
    # Each key's unit scores in order, the units without one (NaN) last: minimum, middle and maximum.
    ranked = np.sort(by_key, axis=1)
    n = np.count_nonzero(~np.isnan(by_key), axis=1)
    row = np.arange(len(key_ids))
    level = compliance_level - EPSILON
    below = np.count_nonzero(by_key < level, axis=1)
    named = key_ids.is_in(keys.filter("named")["key_id"].unique().implode()).to_numpy()
    listed = np.where(named, np.minimum(below, list_limit), 0)
    stats = pl.DataFrame({
        "key_id": key_ids, "units_scored": n.astype(np.int64), "lowest": ranked[:, 0],
        "median": (ranked[row, np.maximum((n - 1) // 2, 0)] + ranked[row, n // 2]) / 2,
        "highest": ranked[row, np.maximum(n - 1, 0)],
        "at_or_above": np.count_nonzero(by_key >= level, axis=1).astype(np.int64),
        "below": below.astype(np.int64), "_k": row})
    names = _names_below(by_key, ranked, listed, units["name"])
    return (stats.filter(pl.col("units_scored") > 0).join(names, on="_k", how="left")
            .drop("_k").select(list(SCHEMA)))


def _unit_scores(scores: pl.DataFrame, pairs: pl.DataFrame, unit_ids: pl.Series, key_ids: pl.Series) -> np.ndarray:
    """The key x unit matrix of unit scores on each key's questions (NaN where the unit has none known);
    units in the order of unit_ids."""
    questions = pl.concat([pairs["question_id"], scores["question_id"]]).unique().sort()

    def codes(values: pl.Series, domain: pl.Series) -> np.ndarray:
        return values.cast(pl.Enum(domain)).to_physical().to_numpy()

    u, q = codes(scores["unit_id"], unit_ids), codes(scores["question_id"], questions)
    weight = scores["weight"].to_numpy()
    sw, w = np.zeros((questions.len(), unit_ids.len())), np.zeros((questions.len(), unit_ids.len()))
    sw[q, u] = scores["score"].to_numpy() * weight
    w[q, u] = weight
    member = np.zeros((key_ids.len(), questions.len()))
    member[codes(pairs["key_id"], key_ids), codes(pairs["question_id"], questions)] = 1.0
    num, den = member @ sw, member @ w
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.round(np.where(den > 0, num / den, np.nan), DECIMALS)


def _names_below(by_key: np.ndarray, ranked: np.ndarray, listed: np.ndarray, names: pl.Series) -> pl.DataFrame:
    """Per key row _k with units to name: its `listed` worst units (ties by unit id), joined, and how many."""
    row = np.arange(len(listed))
    cut = np.where(listed > 0, ranked[row, np.maximum(listed - 1, 0)], -np.inf)  # the listed-th lowest score
    k, u = np.nonzero(by_key <= cut[:, None])   # those units, and any that tie with the last of them
    order = np.lexsort((u, by_key[k, u], k))
    k, u = k[order], u[order]
    rank = np.arange(len(k)) - np.searchsorted(k, k)
    keep = rank < listed[k]
    long = pl.DataFrame({"_k": k[keep], "rank": rank[keep], "name": names.gather(u[keep])})
    return long.group_by("_k", maintain_order=True).agg(
        pl.col("name").str.join(", ").alias("units_below"), pl.len().cast(pl.Int64).alias("listed"))
