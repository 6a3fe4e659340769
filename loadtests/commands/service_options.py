"""Command-line options shared by ``run``, ``serve`` and ``ui``: variants, and the service
settings every variant of a command shares.

The setting options are derived from the settings' own metadata
(``services/common/settings.py``): each sets one environment variable, with its help.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loadtests import variants
from loadtests.variants import Variant
from services.common.settings import SETTINGS

OPTIONS = {info.option: info for info in SETTINGS.values() if info.option}


def _dest(option: str) -> str:
    return "setting_" + option.lstrip("-").replace("-", "_")


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "service settings, for every variant (override the environment)"
    )
    for option, info in OPTIONS.items():
        group.add_argument(option, dest=_dest(option), help=f"{info.help}; sets {info.env}")


def add_variants_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--variants",
        type=Path,
        metavar="FILE",
        help="a TOML file of your own variants (see README: Variants)",
    )


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The environment settings the options set (None: not given)."""
    return {info.env: getattr(args, _dest(option), None) for option, info in OPTIONS.items()}


def known_variants(args: argparse.Namespace) -> dict[str, Variant]:
    return variants.catalogue(getattr(args, "variants", None))


def variant_help() -> str:
    return ", ".join(variants.BUILTIN)
