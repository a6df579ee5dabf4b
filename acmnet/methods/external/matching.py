"""Matching a file's rows to the manifest's images: by position (forms 0 and 1) or by name (forms 2 and 3)."""

from __future__ import annotations

import numpy as np

from acmnet.methods.external.reader import ExternalDescriptorsError


def _by_position(count: int, ref_images: list[str], query_images: list[str], path: str) -> np.ndarray:
    """File rows of a VPR-methods-evaluation pickle: the distinct references, then the distinct
    queries, each in manifest order (the order the `utm` and `vprbench` types share with that tool)."""
    refs, queries = list(dict.fromkeys(ref_images)), list(dict.fromkeys(query_images))
    if count != len(refs) + len(queries):
        raise ExternalDescriptorsError(
            f"{path} holds {count} rows, but the manifest has {len(refs)} reference and {len(queries)} query "
            f"images ({len(refs) + len(queries)} rows): the file belongs to another dataset or query set"
        )
    at = {im: i for i, im in enumerate(refs)}
    at_query = {im: len(refs) + j for j, im in enumerate(queries)}
    return np.array([at[im] for im in ref_images] + [at_query[im] for im in query_images], dtype=np.int64)


def _suffixes(path: str) -> list[str]:
    """`a/b/c.jpg` -> [`a/b/c.jpg`, `b/c.jpg`, `c.jpg`] (separators as `/`)."""
    parts = path.replace("\\", "/").split("/")
    return ["/".join(parts[k:]) for k in range(len(parts)) if parts[k:] != [""]]


def _matches(name: str, index: dict[str, list[str]], wanted: dict[str, str]) -> list[str]:
    """The images `name` matches: an image equal to it or ending with `/` + it, or one it ends with."""
    key = name.replace("\\", "/").removeprefix("./")
    hits = list(index.get(key, []))
    hits += [wanted[s] for s in _suffixes(key)[1:] if s in wanted]
    return list(dict.fromkeys(hits))


def _suffix_index(images: list[str]) -> dict[str, list[str]]:
    """Every ending (after a `/`) of every image path -> the images that end so."""
    index: dict[str, list[str]] = {}
    for im in images:
        for suffix in _suffixes(im):
            index.setdefault(suffix, []).append(im)
    return index


def _by_name(names: list[str], ref_images: list[str], query_images: list[str], path: str) -> np.ndarray:
    """File rows of named descriptors: every image exactly one row, every name exactly one image."""
    order = list(dict.fromkeys(ref_images + query_images))
    wanted = {im.replace("\\", "/"): im for im in order}
    index = _suffix_index(order)
    row_of: dict[str, int] = {}
    for i, name in enumerate(names):
        hits = _matches(name, index, wanted)
        if len(hits) != 1:
            what = "matches no" if not hits else f"matches {len(hits)} ({', '.join(hits[:3])})"
            raise ExternalDescriptorsError(
                f"{path}: `{name}` {what} reference or query image of the manifest; a name must equal an "
                f"image path or be its end after a `/` (e.g. `{order[0]}`), and name one image only"
            )
        if hits[0] in row_of:
            raise ExternalDescriptorsError(
                f"{path}: image {hits[0]} gets two rows (`{names[row_of[hits[0]]]}` and `{name}`)"
            )
        row_of[hits[0]] = i
    missing = next((im for im in order if im not in row_of), None)
    if missing is not None:
        raise ExternalDescriptorsError(
            f"{path} has no row for image {missing} ({len(names)} rows for {len(order)} reference and query images)"
        )
    return np.array([row_of[im] for im in ref_images + query_images], dtype=np.int64)
