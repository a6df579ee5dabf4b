"""The `synthetic` dataset type: the offline demo route (rendered by `acmnet.data.synthetic_route`).

`synthesize` renders the configured route into the dataset root (PNG images and `route.csv`);
`prepare` turns it into the manifest: the reference traversal is `train` and `reference`, every
other condition a query set; place = position along the route. Row order: each condition in
place order, which is the order the route is driven (time); sequence matching relies on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from acmnet.config import ConfigError, bounded
from acmnet.data.datasets.base import DatasetType, LayoutError, listing
from acmnet.data.synthetic_route import REFERENCE_CONDITION, check_condition, render_route
from acmnet.io import list_files


@dataclass
class SyntheticOptions:
    """Config of a `type: synthetic` dataset (the demo route)."""

    # The bounds are what `synthetic_route.build_world` accepts (places >= 2: `check`), so a config
    # that synthesis would refuse is refused when it is loaded.
    places: int = bounded(300, lo=1)
    reference_condition: str = REFERENCE_CONDITION  # train and reference traversal
    query_conditions: list[str] = field(default_factory=lambda: ["winter", "night", "haze"])
    seed: int = 0
    render_size: tuple[int, int] = bounded((96, 128), lo=32)  # (height, width) of the rendered PNGs
    place_step: int | None = bounded(None, lo=1)  # near-layer pixels between places; default width / 4

    def check(self, where: str) -> None:
        if self.places < 2:
            raise ConfigError(
                f"{where}.places must be at least 2 (a route of one place cannot be rendered), got {self.places}"
            )
        for c in [self.reference_condition, *self.query_conditions]:
            try:
                check_condition(c)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        if self.reference_condition in self.query_conditions:
            raise ConfigError(
                f"{where}: the reference condition `{self.reference_condition}` is also a query condition"
            )


def synthesize(root: Path, opts: SyntheticOptions, name: str = "synthetic") -> pd.DataFrame:
    """Render the configured route into `root` (images and route.csv)."""
    return render_route(
        Path(root),
        opts.places,
        [opts.reference_condition, *opts.query_conditions],
        opts.seed,
        opts.render_size,
        opts.place_step,
    )


def _route(root: Path, opts: SyntheticOptions, name: str) -> pd.DataFrame:
    """route.csv, checked against the options: every configured condition has every place."""
    route_csv = Path(root) / "route.csv"
    if not route_csv.is_file():
        raise LayoutError(f"{route_csv} does not exist: render the route first (acmnet synthesize --dataset {name})")
    try:
        route = pd.read_csv(route_csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LayoutError(
            f"{route_csv} cannot be read ({exc}): render the route again (acmnet synthesize --dataset {name})"
        ) from exc
    lacking = [c for c in ("image", "place", "condition") if c not in route.columns]
    if lacking:
        raise LayoutError(
            f"{route_csv} lacks column(s) {', '.join(lacking)}: render the route again "
            f"(acmnet synthesize --dataset {name})"
        )
    counts = route.groupby("condition").size().to_dict()
    wanted = [opts.reference_condition, *opts.query_conditions]
    if any(counts.get(c) != opts.places for c in wanted):
        raise ValueError(
            f"{route_csv} holds {counts} images per condition, but datasets.{name} asks for {opts.places} "
            f"places of {wanted}: render the route again (acmnet synthesize --dataset {name})"
        )
    return route[route["condition"].isin(wanted)].sort_values(["condition", "place"], kind="stable")


def prepare(root: Path, opts: SyntheticOptions, name: str = "synthetic") -> pd.DataFrame:
    """Manifest rows: the reference traversal is `train` and `reference`, the others `query`."""
    route = _route(root, opts, name)
    reference = route[route["condition"] == opts.reference_condition]
    parts = [reference.assign(role="train"), reference.assign(role="reference")]
    parts += [route[route["condition"] == c].assign(role="query") for c in opts.query_conditions]
    return pd.concat(parts, ignore_index=True)[["image", "role", "place", "condition"]]


def check_layout(root: Path, opts: SyntheticOptions, name: str = "synthetic") -> None:
    """route.csv holds every place of every configured condition, and every image it names is on
    disk (listed, not decoded)."""
    route = _route(root, opts, name)
    images = route["image"].astype(str)
    folders = {
        folder: set(list_files(Path(root) / folder)) if (Path(root) / folder).is_dir() else set()
        for folder in images.map(lambda i: str(Path(i).parent)).unique()
    }
    missing = [i for i in images if Path(i).name not in folders[str(Path(i).parent)]]
    if missing:
        raise LayoutError(
            f"{len(missing)} of the {len(images)} images route.csv names are not under {root} "
            f"(first: {listing(missing)}): render the route again (acmnet synthesize --dataset {name})"
        )


def train_set(opts: SyntheticOptions) -> str:
    """What a trained row trains on: the reference traversal itself."""
    return "the reference traversal, the reference images themselves (the places evaluated are the places trained on)"


DATASET = DatasetType(
    name="synthetic",
    options=SyntheticOptions,
    prepare=prepare,
    check_layout=check_layout,
    synthesize=synthesize,
    train_set=train_set,
)
