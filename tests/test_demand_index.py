"""The library's search index: band keys propose what MinHash/LSH proposes, entries round-trip through the library,
a second call reads only the related part of the library and decides as a full recomputation does, and erasing
personal data drops a demand's entry until the next run indexes its new text."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from rensa import RMinHash

from pipelines import migrations as m
from pipelines import schema as s
from pipelines.dedup_candidates import band_candidates
from pipelines.demand_index import band_keys
from pipelines.flows import consolidate_call
from pipelines.ingest import ingest_files
from pipelines.need_text import need_texts
from pipelines.normalize import normalize_demands
from pipelines.sample import generate_call
from pipelines.settings import DedupConfig, EmbedConfig, PipelineConfig
from pipelines.similarity import compact, jaccard, shingle_hashes, shingles
from pipelines.store import Library


def _normalised_sample(tmp_path: Path, n: int, seed: int) -> pd.DataFrame:
    call, _ = generate_call(n, seed)
    path = tmp_path / f"sample-{seed}.csv"
    call.to_csv(path, index=False, encoding="utf-8-sig")
    config = PipelineConfig()
    return normalize_demands(ingest_files([path], "c", config.ingest).demands, config.normalize)


def test_band_keys_propose_the_pairs_whose_digests_share_a_band_and_every_near_copy(tmp_path: Path) -> None:
    config = DedupConfig()
    keys = [compact(t) for t in need_texts(_normalised_sample(tmp_path, 600, 3))]
    found = {(int(a), int(b)) for a, b in band_candidates(band_keys(keys, config))}
    # reference: rensa's digests of the same token hashes (another entry point), bands compared as tuples
    flat, offsets = shingle_hashes(keys, config.shingle_size)
    rows = [flat[int(offsets[i]) : int(offsets[i + 1])].tolist() for i in range(len(keys))]
    digests = RMinHash.digest_matrix_from_token_hash_sets(rows, config.num_perm, config.seed).to_rows()
    width = config.num_perm // config.lsh_bands
    expected: set[tuple[int, int]] = set()
    for band in range(config.lsh_bands):
        buckets: dict[tuple[int, ...], list[int]] = {}
        for i, digest in enumerate(digests):
            buckets.setdefault(tuple(digest[band * width : (band + 1) * width]), []).append(i)
        expected |= {(a, b) for members in buckets.values() for a in members for b in members if a < b}
    assert len(expected) > 20 and found == expected  # planted copies give LSH something to propose
    sets = [shingles(k, config.shingle_size) for k in keys]
    near = {(i, j) for i in range(len(keys)) for j in range(i + 1, len(keys)) if jaccard(sets[i], sets[j]) >= 0.9}
    assert near and near <= found


def test_a_demand_gets_the_same_band_keys_alone_as_in_any_batch() -> None:
    keys = ["高精度数控机床主轴热误差补偿", "", "ab", "锂电池负极硅碳材料制备与中试"]
    together = band_keys(keys, DedupConfig())
    alone = np.vstack([band_keys([k], DedupConfig()) for k in reversed(keys)])[::-1]
    assert (together == alone).all() and not (together[0] == together[3]).all()


def _write(tmp_path: Path, name: str, frame: pd.DataFrame) -> Path:
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def _calls(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """Call 1: 600 generated demands. Call 2: 18 others plus 6 of call 1's re-posted verbatim by other
    enterprises (new numbers)."""
    first, _ = generate_call(600, 11)
    other, _ = generate_call(18, 12)
    other["需求编号"] = [f"N2-{i:03d}" for i in range(len(other))]
    reposts = first.iloc[[3, 90, 177, 320, 461, 580]]
    renumbered = reposts.assign(需求编号=[f"R2-{i}" for i in range(len(reposts))])
    second = pd.concat([other, renumbered], ignore_index=True)
    return _write(tmp_path, "c1", first), _write(tmp_path, "c2", second), reposts


def _run(tmp_path: Path, path: Path, call: str, db: str, out: str) -> tuple[pd.DataFrame, dict]:
    config = PipelineConfig(embed=EmbedConfig(cache_dir=tmp_path / "cache"))
    consolidate_call([path], call, tmp_path / out, db, config, echo=False)
    demands = pd.read_csv(tmp_path / out / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    manifest = json.loads((tmp_path / out / "manifest.json").read_text(encoding="utf-8"))
    return demands, manifest


@pytest.mark.usefixtures("prefect_harness")
def test_a_second_call_reads_only_the_related_library_and_decides_as_a_full_recomputation(
    tmp_path: Path, new_library_url: "callable"
) -> None:
    c1, c2, reposts = _calls(tmp_path)
    incremental, full = new_library_url("incremental"), new_library_url("full")
    first, _ = _run(tmp_path, c1, "c1", incremental, "i1")
    _run(tmp_path, c1, "c1", full, "f1")
    with Library.open(incremental) as library:
        entries = library.index_entries(library_encoder(library), DedupConfig().lsh_bands)
        assert sorted(entries.ids) == sorted(library.demands()[s.DEMAND_ID])  # every demand indexed
        assert np.allclose(np.linalg.norm(entries.vectors, axis=1), 1.0, atol=1e-4)
    with Library.open(full) as library, library._ready().begin() as conn:
        conn.execute(sa.delete(m.DEMAND_INDEX))  # a library written before the index: everything is recomputed

    second, manifest = _run(tmp_path, c2, "c2", incremental, "i2")
    recomputed, full_manifest = _run(tmp_path, c2, "c2", full, "f2")
    counts = manifest["counts"]
    assert counts["library_reindexed"] == 0 and full_manifest["counts"]["library_reindexed"] == len(first)
    assert 0 < counts["library_context"] < len(first) // 2  # only the related part of the library was read
    assert counts["library_indexed"] == len(second)
    # every verbatim re-post joins its original's group, found through the index
    original = first.set_index("external_id")
    again = second.set_index("external_id")
    with Library.open(incremental) as library:
        groups = library.demands("c1").set_index(s.DEMAND_ID)[s.DUPLICATE_GROUP]
    for repost, source in zip([f"R2-{i}" for i in range(len(reposts))], reposts["需求编号"], strict=True):
        group = again.loc[repost, s.DUPLICATE_GROUP]
        assert group != "" and groups[original.loc[source, s.DEMAND_ID]] == group
        assert again.loc[repost, "linked_demand_id"] in set(groups.index[groups == group])
    columns = [s.DEMAND_ID, s.DUPLICATE_GROUP, s.DUPLICATE_KIND, s.CHAIN_ID, "linked_demand_id"]
    pd.testing.assert_frame_equal(second[columns], recomputed[columns])


def library_encoder(library: Library) -> str:
    return str(library.runs()["encoder"].iloc[-1])


@pytest.mark.usefixtures("prefect_harness")
def test_erasure_drops_the_entries_it_changes_and_the_next_run_indexes_the_new_text(
    tmp_path: Path, library_url: str
) -> None:
    rows = [
        ("E-1", "高精度数控机床主轴热误差补偿", "联系人王小明。开发主轴热误差在线补偿系统，定位精度≤2μm。"),
        ("E-2", "锂电池负极硅碳材料制备", "开发硅碳负极材料，首效≥88%，循环500次容量保持率≥85%。"),
        ("E-3", "中药配方颗粒质量标准研究", "建立特征图谱与多成分含量测定方法，覆盖30个品种。"),
    ]
    call = pd.DataFrame(rows, columns=["需求编号", "需求名称", "需求描述"])
    first, _ = _run(tmp_path, _write(tmp_path, "e1", call), "e1", library_url, "e1")
    erased = first.set_index("external_id").loc["E-1", s.DEMAND_ID]
    bands = DedupConfig().lsh_bands
    with Library.open(library_url) as library:
        encoder = library_encoder(library)
        before = library.index_entries(encoder, bands)
        old_key = before.copy_keys[list(before.ids).index(erased)]
        report = library.erase_person("王小明", (), by="隐私专员", reason="本人申请")
        assert report.demands == 1
        after = library.index_entries(encoder, bands)
        assert erased not in set(after.ids) and len(after) == len(before) - 1  # only the changed demand
    later = pd.DataFrame([("E-9", "食品冷链溯源平台建设", "建设冷链温度全程追溯平台，覆盖100家企业。")],
                         columns=["需求编号", "需求名称", "需求描述"])  # fmt: skip
    _, manifest = _run(tmp_path, _write(tmp_path, "e2", later), "e2", library_url, "e2")
    assert manifest["counts"]["library_reindexed"] == 1
    with Library.open(library_url) as library:
        again = library.index_entries(encoder, bands)
        assert erased in set(again.ids) and again.copy_keys[list(again.ids).index(erased)] != old_key


@pytest.mark.usefixtures("prefect_harness")
def test_the_context_takes_full_vectors_from_the_index_and_encodes_only_the_decided_demands(
    tmp_path: Path, new_library_url: "callable"
) -> None:
    from pipelines.demand_index import index_entries
    from pipelines.embed import CachedEncoder, USEEncoder, demand_vectors
    from pipelines.library_context import library_context
    from pipelines.segment import Segmenter, segment_demands
    from pipelines.taxonomy import load_taxonomy

    c1, c2, _ = _calls(tmp_path)
    db = new_library_url("context")
    _run(tmp_path, c1, "c1", db, "o1")
    config = PipelineConfig(embed=EmbedConfig(cache_dir=tmp_path / "cache"))
    encoder = CachedEncoder(USEEncoder(), tmp_path / "cache")
    calls: list[int] = []
    inner_encode = encoder.encode
    encoder.encode = lambda texts, progress=None: calls.append(len(texts)) or inner_encode(texts, progress)  # type: ignore[method-assign]
    segmenter = Segmenter(config.segment, load_taxonomy(config.mapping.taxonomy).terms()).fit()
    frame = normalize_demands(ingest_files([c2], "c2", config.ingest).demands, config.normalize)
    frame = segment_demands(frame, segmenter)
    query = index_entries(frame, demand_vectors(frame, encoder, config.embed)[2], "q", config.dedup)
    calls.clear()
    with Library.open(db) as library:
        stored = library.demands()
        index = library.index_entries(library_encoder(library), config.dedup.lsh_bands)
    decided = stored[s.DEMAND_ID].iloc[:3].tolist()
    context = library_context(stored, index, query, decided, segmenter, encoder, config)
    rows = pd.Index(index.ids).get_indexer(context.frame[s.DEMAND_ID])
    assert len(context.frame) > 3 and (rows >= 0).all()
    assert np.array_equal(context.vectors[2], index.vectors[rows])  # full vectors: the library's own
    fitted = context.frame[s.DEMAND_ID].isin(decided).to_numpy()
    title, body, _ = context.vectors
    assert fitted.sum() == 3 and (np.linalg.norm(title[fitted], axis=1) > 0.99).all()
    assert not title[~fitted].any() and not body[~fitted].any()  # no other earlier demand is encoded
    assert calls and calls[0] == 3  # the titles of the three decided demands, then their body sentences only
