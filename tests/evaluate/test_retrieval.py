import tracemalloc
from pathlib import Path

import faiss
import numpy as np
import pytest

from acmnet.artifacts import ProvenanceError, load_retrieval, provenance, save_descriptors
from acmnet.evaluate import retrieval as rt
from acmnet.evaluate.retrieval import chunk_rows, peak_bytes, retrieve, search_streamed


def test_search_matches_brute_force_and_the_memory_bound_changes_nothing():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(300, 16)).astype(np.float32)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    qry = rng.normal(size=(77, 16)).astype(np.float32)
    qry /= np.linalg.norm(qry, axis=1, keepdims=True)
    scores, idx = search_streamed([ref], qry, k=10)
    brute = np.argsort(-(qry @ ref.T), axis=1)[:, :10]
    np.testing.assert_array_equal(idx, brute)
    np.testing.assert_allclose(scores, np.take_along_axis(qry @ ref.T, brute, 1), rtol=1e-5)
    scores2, idx2 = search_streamed([ref[:100], ref[100:]], qry, k=10, rows=1024)
    np.testing.assert_array_equal(idx, idx2)
    np.testing.assert_array_equal(scores, scores2)


def test_k_is_capped_and_shapes_are_checked():
    ref = np.eye(3, dtype=np.float32)
    _scores, idx = search_streamed([ref], ref, k=25)
    assert idx.shape == (3, 3) and idx[:, 0].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="do not match"):
        search_streamed([ref], np.ones((2, 4), dtype=np.float32), k=1)


# ---- search_streamed: faiss IndexFlatIP's scores on the whole set, ties by index ----------------


def faiss_whole(parts, queries, k):
    reference = np.concatenate(parts)
    index = faiss.IndexFlatIP(reference.shape[1])
    index.add(reference)
    return index.search(queries, min(k, len(reference)))


def defined_order(parts, queries, k):
    """The first k of every reference, as faiss scores them on the whole set, ordered by score
    descending, then reference index ascending (the module's one tie order)."""
    scores, ids = faiss_whole(parts, queries, sum(len(p) for p in parts))  # every reference, same score bits
    order = np.lexsort((ids, -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def assert_identical(ours, theirs):
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[0].dtype == np.float32 and ours[1].dtype == np.int64
    np.testing.assert_array_equal(ours[0].view(np.int32), theirs[0].view(np.int32))  # the same bits


def assert_faiss_but_tie_order(ours, parts, queries, k):
    """`ours` is the defined order of faiss's whole-set scores; against faiss's own top k: the same
    score bits, and the same indices wherever a score is not exactly tied with another reference's."""
    assert_identical(ours, defined_order(parts, queries, k))
    scores, ids = faiss_whole(parts, queries, k)
    np.testing.assert_array_equal(ours[0].view(np.int32), scores.view(np.int32))
    full = faiss_whole(parts, queries, min(k + 1, sum(len(p) for p in parts)))[0]
    for row in range(len(queries)):
        once = [j for j in range(scores.shape[1]) if (full[row] == scores[row, j]).sum() == 1]
        np.testing.assert_array_equal(ours[1][row, once], ids[row, once])


def make(kind, n_refs, dim, n_queries, seed=0):
    """(references, queries): `random`; `duplicates` (each row about 5 times: exactly tied scores);
    `integers` in {-1, 0, 1} (exact integer scores: ties everywhere, also in faiss's sgemm)."""
    rng = np.random.default_rng(seed)
    if kind == "integers":
        return (
            rng.integers(-1, 2, (n_refs, dim)).astype(np.float32),
            rng.integers(-1, 2, (n_queries, dim)).astype(np.float32),
        )
    ref = rng.standard_normal((n_refs, dim), dtype=np.float32)
    if kind == "duplicates":
        ref = ref[rng.integers(0, n_refs // 5 + 1, n_refs)]
    return ref, rng.standard_normal((n_queries, dim), dtype=np.float32)


SPLITS = {
    "one": [],
    "grid": [1024, 2048],  # part boundaries on faiss's 1024-row grid: every chunk a view
    "odd": [1, 700, 2500, 2501],  # a 1-row part, an empty part, boundaries off the grid: chunks copied across parts
}


@pytest.mark.parametrize("kind", ["random", "duplicates", "integers"])
@pytest.mark.parametrize(
    ("n_queries", "dim"),
    [(7, 64), (210, 640)],  # faiss's pair-by-pair path (queries x dim < 128,000) and its sgemm path
)
@pytest.mark.parametrize("k", [1, 2, 25, 99, 150])
def test_streamed_is_faiss_on_the_whole_set_but_for_the_order_of_ties(kind, n_queries, dim, k):
    ref, queries = make(kind, 3500, dim, n_queries)
    for split, rows in (("odd", 1024), ("grid", 2048), ("one", 1024)):
        parts = np.split(ref, SPLITS[split])
        assert_faiss_but_tie_order(search_streamed(parts, queries, k, rows=rows), parts, queries, k)
    assert_faiss_but_tie_order(search_streamed([ref], queries, k), [ref], queries, k)  # one faiss call


def test_ties_are_listed_by_index_whatever_top_k_the_bound_and_the_parts():
    """Issue 26: with every descriptor equal, faiss lists tied references in an order that depends
    on k (R@1 of 10 at top_k 5, 0 at top_k 10); ours is references 0, 1, 2, ... for any k, bound
    and split, and a list at top_k 5 is the first five of the list at top_k 10."""
    ref = np.ones((3000, 16), np.float32)
    queries = np.ones((10, 16), np.float32)
    assert faiss_whole([ref], queries, 5)[1][0, 0] != faiss_whole([ref], queries, 10)[1][0, 0]  # what it fixes
    for k in (1, 5, 10, 99, 150):
        expected = np.tile(np.arange(k), (10, 1))
        for parts, rows in (([ref], None), (np.split(ref, [1, 1500]), 1024), (np.split(ref, [2048]), 2048)):
            scores, idx = search_streamed(parts, queries, k, rows=rows)
            np.testing.assert_array_equal(idx, expected)
            assert (scores == 16).all()
    dup, dq = make("duplicates", 3500, 32, 50, seed=2)
    ten = search_streamed(np.split(dup, SPLITS["odd"]), dq, 10, rows=1024)
    for k, parts, rows in ((5, [dup], None), (1, np.split(dup, SPLITS["grid"]), 2048), (7, [dup], 1024)):
        assert_identical(search_streamed(parts, dq, k, rows=rows), (ten[0][:, :k], ten[1][:, :k]))


def test_a_zero_query_lists_the_references_in_index_order():
    """Issue 26: a zero descriptor (kept with `normalize: false`) ties with every reference at 0:
    its list is references 0, 1, 2, ..., so it is correct at rank 1 only if reference 0 is a positive."""
    ref, queries = make("random", 2100, 32, 4, seed=9)
    queries[2] = 0
    for k, rows in ((1, None), (5, 1024), (25, None)):
        scores, idx = search_streamed(np.split(ref, [1000]), queries, k, rows=rows)
        np.testing.assert_array_equal(idx[2], np.arange(k))
        assert (scores[2] == 0).all()


def test_faiss_own_order_of_ties_is_not_ours():
    """faiss's heap lists equal scores by DESCENDING index (and keeps neither the lowest nor the
    highest tied indices at the k-th score): the same scores, another order of the tied references."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((40, 64), dtype=np.float32)
    ref = base[rng.integers(0, 40, 6000)]  # each row about 150 times
    queries = rng.standard_normal((5, 64), dtype=np.float32)
    theirs = faiss_whole([ref], queries, 20)
    ours = search_streamed(np.split(ref, [999, 4000]), queries, 20, rows=1024)
    np.testing.assert_array_equal(ours[0], theirs[0])
    equal = ours[0][:, 1:] == ours[0][:, :-1]
    assert equal.any() and (ours[1][:, 1:][equal] > ours[1][:, :-1][equal]).all()
    assert (theirs[1][:, 1:][equal] < theirs[1][:, :-1][equal]).all()
    assert_faiss_but_tie_order(ours, [ref], queries, 20)


def test_chunks_from_the_memory_bound_and_memory_mapped_parts(tmp_path):
    ref, queries = make("duplicates", 5000, 256, 300, seed=1)
    for n, part in enumerate(np.split(ref, [1500, 1501])):
        np.save(tmp_path / f"part{n}.npy", part)
    parts = [np.load(tmp_path / f"part{n}.npy", mmap_mode="r") for n in range(3)]
    bound = (peak_bytes(300, 256, 25, 1024) + 2**20) / 2**20  # room for chunks of 1024 references, not 2048
    assert chunk_rows(300, 256, 25, bound, 5000) == 1024
    assert_faiss_but_tie_order(search_streamed(parts, queries, 25, bound), parts, queries, 25)
    assert_faiss_but_tie_order(search_streamed(parts, queries, 25), parts, queries, 25)  # one chunk


def resident_kb(path: Path) -> int:
    """Resident memory of this process's mappings of `path` (Linux /proc/self/smaps)."""
    total, current = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if head.endswith(":"):
                if current and head == "Rss:":
                    total += int(line.split()[1])
            else:
                current = line.rstrip().endswith(str(path))
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads /proc/self/smaps")
def test_memory_mapped_chunks_leave_the_process_once_searched(tmp_path):
    ref, queries = make("random", 8192, 256, 50)
    np.save(tmp_path / "part.npy", ref)
    part = np.load(tmp_path / "part.npy", mmap_mode="r")
    search_streamed([part], queries, 5, rows=2048)
    assert resident_kb(tmp_path / "part.npy") < 256  # of 8 MiB read (a kernel fault-around may stay)
    np.asarray(part).sum()  # the same read without the release keeps it all
    assert resident_kb(tmp_path / "part.npy") > 8000


def bound_with_widest(n_queries, k, widest):
    """A memory bound whose tied queries may be asked again for `widest` results, no more."""
    fixed = rt._fixed_bytes(n_queries, k)
    for extra in range(0, 2**24, 512):
        if rt._widest(n_queries, k, (fixed + extra) / 2**20) == widest:
            return (fixed + extra) / 2**20
    raise AssertionError("no such bound")


def test_many_ties_rerun_split_the_chunk_or_ask_for_room():
    rng = np.random.default_rng(4)
    ref = rng.standard_normal((4096, 64), dtype=np.float32) * 0.01
    queries = rng.standard_normal((7, 64), dtype=np.float32)
    ref[rng.permutation(4096)[:300]] = queries.sum(0)  # 300 exact copies of one row, ~75 per block of 1024
    assert_faiss_but_tie_order(search_streamed([ref], queries, 25), [ref], queries, 25)  # asked again, wider
    narrow = bound_with_widest(7, 25, 104)  # 300 ties do not fit: the chunk is scanned block by block
    assert_faiss_but_tie_order(search_streamed([ref], queries, 25, narrow, rows=4096), [ref], queries, 25)
    ref[rng.permutation(4096)[:1000]] = queries.sum(0)  # > 104 ties within one block: not even that fits
    with pytest.raises(ValueError, match="tie exactly.*retrieval_memory_mb"):
        search_streamed([ref], queries, 25, narrow, rows=4096)


def test_k_beyond_a_chunk_k_capped_and_edge_cases():
    ref, queries = make("random", 1030, 32, 9)
    parts = np.split(ref, [1024])  # the last chunk holds 6 references, fewer than k
    assert_faiss_but_tie_order(search_streamed(parts, queries, 25, rows=1024), parts, queries, 25)
    big, bq = make("random", 2500, 32, 9, seed=5)  # k > a chunk
    assert_faiss_but_tie_order(search_streamed([big], bq, 1500, rows=1024), [big], bq, 1500)
    scores, idx = search_streamed([ref[:5]], queries, 25)  # k capped at the references
    assert idx.shape == (9, 5)
    assert_faiss_but_tie_order((scores, idx), [ref[:5]], queries, 25)
    assert_faiss_but_tie_order(search_streamed(ref, queries, 3), [ref], queries, 3)  # one 2-d array
    empty = np.empty((0, 32), np.float32)
    assert_faiss_but_tie_order(search_streamed([empty, ref[:7], empty], queries, 3), [ref[:7]], queries, 3)
    s, i = search_streamed([ref], empty, 4)
    assert s.shape == i.shape == (0, 4) and s.dtype == np.float32 and i.dtype == np.int64
    s, i = search_streamed([empty], queries, 4)
    assert s.shape == i.shape == (9, 0)
    s, i = search_streamed([], queries, 4)
    assert i.shape == (9, 0)
    with pytest.raises(ValueError, match="do not match"):
        search_streamed([ref, np.ones((3, 4), np.float32)], queries, 1)
    with pytest.raises(ValueError, match="at least 1"):
        search_streamed([ref], queries, 0)
    with pytest.raises(ValueError, match="multiple"):
        search_streamed([ref], queries, 1, rows=1000)


# ---- memory -------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_queries", "dim", "k"), [(10_000, 1024, 25), (300, 64, 1), (100_000, 256, 150)])
@pytest.mark.parametrize("memory_mb", [64, 512, 2048])
def test_chunk_rows_respects_the_bound(n_queries, dim, k, memory_mb):
    bound = memory_mb * 2**20
    try:
        rows = chunk_rows(n_queries, dim, k, memory_mb)
    except ValueError as exc:
        assert "retrieval_memory_mb" in str(exc)
        assert peak_bytes(n_queries, dim, k, 1024) > bound * 3 // 4  # truly too small
        return
    assert rows % 1024 == 0 and rows >= 1024
    assert peak_bytes(n_queries, dim, k, rows) <= bound
    fixed = peak_bytes(n_queries, dim, k, 0)
    assert 2 * 4 * rows * dim <= (bound - fixed) * 3 // 4 < 2 * 4 * (rows + 1024) * dim  # the largest such
    assert (
        rt._answer_bytes(n_queries, rt._widest(n_queries, k, memory_mb))
        <= rt._answer_bytes(n_queries, k + 1) + (bound - fixed) // 4
    )
    assert chunk_rows(n_queries, dim, k, memory_mb, 10) == 1024  # no more than the references need
    assert chunk_rows(n_queries, dim, k, memory_mb, 10**9) == rows


def test_the_peak_of_the_arrays_stays_under_the_estimate():
    """The arrays the search makes (numpy and faiss's answers; traced by tracemalloc) stay under
    `peak_bytes`, with chunks copied across parts (in-memory parts: nothing else to count)."""
    ref, queries = make("duplicates", 6000, 128, 500, seed=6)
    parts = np.split(ref, [1000, 1001, 3333])
    bound = (peak_bytes(500, 128, 25, 2048) + 2**20) / 2**20
    rows = chunk_rows(500, 128, 25, bound, 6000)
    assert rows == 2048
    tracemalloc.start()
    try:
        search_streamed(parts, queries, 25, bound)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= peak_bytes(500, 128, 25, rows) - 4 * 4096 * 1024  # faiss's own score block is not traced


def test_chunk_plan_stays_on_the_grid_and_in_one_part_when_it_can():
    plan = list(rt._chunks([1, 700, 1799, 0, 1, 3000], 2048))
    starts = [start for start, _, _ in plan]
    assert all(s % 1024 == 0 for s in starts) and plan[-1][1] == 5501
    assert [stop for _, stop, _ in plan[:-1]] == starts[1:]  # every row once, in order
    # part 0 ends in the first block: copied, up to the grid line past the start of part 2 (long: >= 1024)
    assert plan[0] == (0, 1024, [(0, 0, 1), (1, 0, 700), (2, 0, 323)])
    assert plan[1] == (1024, 2048, [(2, 323, 1347)])  # a view, to the last grid line in part 2
    assert plan[2] == (2048, 3072, [(2, 1347, 1799), (4, 0, 1), (5, 0, 571)])  # part 3 is empty
    assert plan[3:] == [(3072, 5120, [(5, 571, 2619)]), (5120, 5501, [(5, 2619, 3000)])]
    whole = list(rt._chunks([100_000] * 3, 192_512))  # parts shorter than a chunk: views, one block copied between
    assert [len(pieces) for _, _, pieces in whole] == [1, 2, 1, 2, 1]
    assert [stop - start for start, stop, _ in whole] == [99_328, 1024, 99_328, 1024, 99_296]


def test_retrieve_writes_faiss_on_the_whole_set(tmp_path):
    ref, queries = make("duplicates", 800, 32, 40)
    path = tmp_path / "d.npz"
    prov = provenance("describe", {"method_name": "m"})
    save_descriptors(path, ref, queries, np.arange(800), np.arange(800, 840), prov)
    out = retrieve(path, tmp_path / "r.npz", 10, {"evaluate.top_k": 10}, memory_mb=64, method="m")
    assert_faiss_but_tie_order((out.scores, out.indices), [ref], queries, 10)
    assert_identical((load_retrieval(tmp_path / "r.npz").scores, out.indices), (out.scores, out.indices))
    assert out.provenance.settings == {"evaluate.top_k": 10, "method_name": "m"}


def test_retrieve_refuses_descriptors_of_another_method(tmp_path):
    """Issue 18: the descriptors of method B given for method A are refused naming both."""
    ref, queries = make("duplicates", 40, 8, 5)
    for name, settings in (("b.npz", {"method_name": "b"}), ("old.npz", {})):
        save_descriptors(
            tmp_path / name, ref, queries, np.arange(40), np.arange(40, 45), provenance("describe", settings)
        )
    with pytest.raises(ProvenanceError, match=r"b\.npz was made for method b, not a: .*acmnet describe --method a"):
        retrieve(tmp_path / "b.npz", tmp_path / "r.npz", 3, {}, method="a")
    with pytest.raises(ProvenanceError, match=r"old\.npz does not record which method it was made for"):
        retrieve(tmp_path / "old.npz", tmp_path / "r.npz", 3, {}, method="a")
    assert not (tmp_path / "r.npz").exists()


def test_retrieve_searches_the_describe_parts_memory_mapped_as_faiss_on_the_whole_set(tmp_path, monkeypatch):
    """Issue 19: the parts the describe jobs wrote are searched as they are (memory-mapped, never
    gathered into one array), and the answer is faiss's scores on the whole set, ties by index."""
    from acmnet.artifacts import load_descriptors, save_descriptor_part, shard_slice

    ref, queries = make("duplicates", 2600, 32, 40)
    prov = provenance("describe", {"method_name": "m"})
    records = []
    for shard in range(3):
        r, q = shard_slice(len(ref), shard, 3), shard_slice(len(queries), shard, 3)
        part = save_descriptor_part(
            tmp_path / "d",
            shard,
            3,
            ref[r],
            queries[q],
            np.arange(r.start, r.stop),
            np.arange(3000 + q.start, 3000 + q.stop),
            prov,
            starts={"reference": r.start, "query": q.start},
        )
        records.append(part.path)
    searched = []
    search = rt.search_streamed
    monkeypatch.setattr(
        rt, "search_streamed", lambda parts, *a, **kw: searched.append(parts) or search(parts, *a, **kw)
    )
    out = retrieve(records, tmp_path / "r.npz", 10, {"evaluate.top_k": 10}, memory_mb=64, method="m")
    assert [type(p) for p in searched[0]] == [np.memmap] * 3 and [len(p) for p in searched[0]] == [866, 867, 867]
    assert_faiss_but_tie_order((out.scores, out.indices), [ref], queries, 10)
    np.testing.assert_array_equal(out.reference_rows, np.arange(2600))
    np.testing.assert_array_equal(out.query_rows, np.arange(3000, 3040))
    descriptors = load_descriptors(tmp_path / "d")  # the folder names the same set
    assert out.provenance.sources["descriptors"].digest == descriptors.digest
    assert load_retrieval(tmp_path / "r.npz", descriptors=descriptors).indices.shape == (40, 10)
    records[1].unlink()
    with pytest.raises(ValueError, match=r"descriptor part .*part-0001-of-0003\.json is missing.*--shard 1 --shards 3"):
        retrieve(records, tmp_path / "r2.npz", 10, {}, method="m")


def test_a_tied_query_is_asked_again_with_its_query_block_only_and_keeps_faiss_bits():
    """A query tied at its k-th score is asked again with the queries of its own faiss BLAS block
    (4096 from query 0), not all queries: cheaper on large sets (one tied query among 10,000 at 1M
    references re-asked a whole chunk for all of them), with the same score bits as the whole-set call."""
    from acmnet.evaluate.retrieval import _query_blocks

    assert _query_blocks(np.array([5000]), 10_000, 64).tolist() == list(range(4096, 8192))
    assert _query_blocks(np.array([9000]), 10_000, 128).tolist() == list(range(8192, 10_000))
    assert len(_query_blocks(np.array([9000]), 10_000, 24)) == 10_000  # 1808 x 24 < 128,000: every query
    rng = np.random.default_rng(3)
    ref = rng.standard_normal((2100, 64)).astype(np.float32)
    ref[1500:1510] = ref[1400]  # eleven equal references: a tie at a query's k-th score
    queries = rng.standard_normal((10_000, 64)).astype(np.float32)
    queries[5000] = ref[1400] * 3  # its top 1..11 are the tied references
    k = 5
    scores, idx = search_streamed(np.split(ref, [1000]), queries, k, rows=1024)
    whole = faiss_whole([ref], queries, k)
    np.testing.assert_array_equal(scores.view(np.int32), whole[0].view(np.int32))
    np.testing.assert_array_equal(idx[5000], [1400, 1500, 1501, 1502, 1503])
    assert_faiss_but_tie_order((scores, idx), [ref], queries, k)
