"""``topproducts leaderboard --by``: a granularity, or one line naming the known ones."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from topproducts.cli import cli
from topproducts.cli.stream import granularity
from topproducts.errors import ConfigError
from topproducts.leaderboards import Granularity


@pytest.mark.parametrize(("text", "expected"), [
    ("product_material", Granularity.PRODUCT_MATERIAL), ("product", Granularity.PRODUCT),
    (" Variant ", Granularity.VARIANT)])
def test_by(text: str, expected: Granularity):
    assert granularity(text) is expected


def test_unknown_by_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown granularity 'seller'; known: "
                                          "product_material, product, variant"):
        granularity("seller")


def test_unknown_by_fails_before_any_service_is_asked():
    result = CliRunner().invoke(cli, ["leaderboard", "--by", "seller"])
    assert isinstance(result.exception, ConfigError)  # main() prints it as one line
