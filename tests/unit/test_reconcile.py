from decimal import Decimal

from topproducts.reconcile import Key, Totals, compare, with_global


def test_global_scope_is_the_sum_of_countries_per_window_and_variant() -> None:
    per_country = {
        Key("IN", "all", 1): Totals(2, Decimal("1.10")),
        Key("US", "all", 1): Totals(3, Decimal("2.25")),
        Key("US", "all", 2): Totals(1, Decimal("9.99")),
        Key("US", "w1", 1): Totals(3, Decimal("2.25")),
    }
    result = with_global(per_country)
    assert result[Key("GLOBAL", "all", 1)] == Totals(5, Decimal("3.35"))
    assert result[Key("GLOBAL", "all", 2)] == Totals(1, Decimal("9.99"))
    assert result[Key("GLOBAL", "w1", 1)] == Totals(3, Decimal("2.25"))
    assert len(result) == len(per_country) + 3


def test_compare_treats_missing_as_zero_and_reports_differences() -> None:
    expected = {Key("US", "all", 1): Totals(3, Decimal("2.25")),
                Key("US", "all", 2): Totals(0, Decimal("0.00"))}
    actual = {Key("US", "all", 1): Totals(3, Decimal("2.26")),
              Key("US", "all", 3): Totals(0, Decimal("0"))}
    mismatches = compare(expected, actual)
    assert [m.key for m in mismatches] == [Key("US", "all", 1)]
    assert "MySQL 3 units, 2.25 USD; Cassandra 3 units, 2.26 USD" in str(mismatches[0])
    assert compare(expected, dict(expected)) == []


def test_sliding_windows_from_slices() -> None:
    from datetime import UTC, datetime, timedelta

    from topproducts.leaderboards.ranking import Geometry, to_micros
    from topproducts.reconcile import windows_of_slices

    g = Geometry.of(timedelta(minutes=15), timedelta(minutes=5))
    t0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    p0, p2, s = to_micros(t0), to_micros(t0 + timedelta(minutes=10)), g.slide_us
    slices = {("US", 1, p0, p0 + s): [1, 100], ("US", 1, p2, p2 + s): [2, 200],
              ("US", 1, p2, p2 + 2 * s): [-1, -100]}  # one unit of p2 cancelled after 08:15
    windows = windows_of_slices(slices, t0 - timedelta(minutes=10), g)
    # windows start at 07:50, 07:55, 08:00, 08:05, 08:10; each covers three panes
    assert {k: v for k, v in windows.items() if k.scope == "US"} == {
        Key("US", "2026-11-25T07:50:00Z", 1): Totals(1, Decimal("1.00")),
        Key("US", "2026-11-25T07:55:00Z", 1): Totals(1, Decimal("1.00")),
        Key("US", "2026-11-25T08:00:00Z", 1): Totals(3, Decimal("3.00")),  # ends 08:15
        Key("US", "2026-11-25T08:05:00Z", 1): Totals(1, Decimal("1.00")),
        Key("US", "2026-11-25T08:10:00Z", 1): Totals(1, Decimal("1.00")),
    }
    assert windows[Key("GLOBAL", "2026-11-25T08:00:00Z", 1)] == Totals(3, Decimal("3.00"))
    # windows that would start before the first pane read are not produced
    later = windows_of_slices(slices, t0, g)
    assert min(k.window_id for k in later) == "2026-11-25T08:00:00Z"


def test_expected_boards_roll_variants_up_per_granularity() -> None:
    from topproducts.leaderboards.ranking import Granularity, Metric
    from topproducts.reconcile import Key, Totals, expected_boards

    totals = {Key("US", "all", 1): Totals(2, Decimal("20.00")),
              Key("US", "all", 2): Totals(5, Decimal("5.00")),  # same product x material
              Key("US", "all", 3): Totals(6, Decimal("1.00"))}
    info = {1: (10, "Oak"), 2: (10, "Oak"), 3: (11, "Steel")}
    boards = expected_boards(totals, info, [("US", "all")], top_n=5)
    quantity = Metric.QUANTITY
    assert boards[(quantity, Granularity.PRODUCT_MATERIAL, "US", "all")] == [
        (1, (10, "Oak", 0), Decimal(7)), (2, (11, "Steel", 0), Decimal(6))]
    assert boards[(quantity, Granularity.VARIANT, "US", "all")] == [
        (1, (11, "Steel", 3), Decimal(6)), (2, (10, "Oak", 2), Decimal(5)),
        (3, (10, "Oak", 1), Decimal(2))]
    assert boards[(Metric.REVENUE, Granularity.PRODUCT, "US", "all")] == [
        (1, (10, "", 0), Decimal("25.00")), (2, (11, "", 0), Decimal("1.00"))]
