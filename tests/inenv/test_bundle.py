"""Bundles: round trip, content addressing, and refusing damaged or incomplete ones."""

import gzip
import io
import json
import os

import numpy as np
import pytest

from edgeparity import bundle
from edgeparity.bundle import BundleError, BundleWriter


def _write(path, arrays, compression="none"):
    writer = BundleWriter(str(path), compression)
    for index, array in enumerate(arrays):
        digest = writer.add_array(array)
        writer.add_record(
            {
                "key": "img{}|decode=x".format(index),
                "image": "img{}".format(index),
                "mode": "e2e",
                "chain": "decode=x",
                "stage": "decode",
                "impl": "x",
                "status": "ok",
                "sha256": digest,
            }
        )
    return writer.finish({"name": "test"})


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_round_trip_and_each_array_stored_once(tmp_path, compression):
    a = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    b = np.linspace(0, 1, 10, dtype=np.float32)
    path = _write(tmp_path / "b", [a, b, a.copy()], compression)
    loaded = bundle.load(path)
    assert len(os.listdir(os.path.join(path, "arrays"))) == 2
    assert len(loaded.records) == 3
    for record, original in zip(sorted(loaded.records.values(), key=lambda r: r["key"]), [a, b, a]):
        np.testing.assert_array_equal(loaded.array(record["sha256"]), original)


def test_digest_depends_on_dtype_and_shape_not_only_bytes():
    zeros = np.zeros(4, np.uint8)
    assert bundle.array_digest(zeros) != bundle.array_digest(zeros.view(np.float32))
    assert bundle.array_digest(zeros) != bundle.array_digest(zeros.reshape(2, 2))
    assert bundle.array_digest(zeros) == bundle.array_digest(np.zeros(4, np.uint8))


def test_missing_directory_and_staging_directory_are_refused(tmp_path):
    with pytest.raises(BundleError, match="no such bundle"):
        bundle.load(str(tmp_path / "nope"))
    writer = BundleWriter(str(tmp_path / "half"))
    writer.add_array(np.ones(3))
    # A capture killed here leaves only the staging directory, and no final bundle.
    assert not os.path.exists(str(tmp_path / "half"))
    with pytest.raises(BundleError, match=r"no manifest\.json.*killed before finishing"):
        bundle.load(writer.staging)


def test_interrupted_bundle_keeps_records_but_is_refused(tmp_path):
    writer = BundleWriter(str(tmp_path / "run"))
    writer.add_record({"key": "a|decode=x", "status": "error"})
    kept = writer.finish_interrupted({"name": "run"})
    assert kept.endswith(".interrupted")
    with open(os.path.join(kept, "manifest.json")) as handle:
        assert len(json.load(handle)["records"]) == 1
    with pytest.raises(BundleError, match="incomplete"):
        bundle.load(kept)


def test_corrupted_array_file_is_reported_by_name(tmp_path):
    path = _write(tmp_path / "b", [np.arange(100, dtype=np.float32)])
    name = os.listdir(os.path.join(path, "arrays"))[0]
    with open(os.path.join(path, "arrays", name), "r+b") as handle:
        handle.seek(20)
        handle.write(b"\x00\xff\x00")
    loaded = bundle.load(path)  # the manifest is intact: arrays are checked when opened
    with pytest.raises(BundleError) as error:
        loaded.array(name.split(".")[0])
    assert "arrays/" + name in str(error.value)
    with pytest.raises(BundleError) as error:
        bundle.load(path, verify=True)  # `edgeparity verify`
    assert "arrays/" + name in str(error.value)
    assert "re-run `edgeparity capture`" in str(error.value).lower() or "Re-run" in str(error.value)


def test_a_truncated_array_file_is_named_once_with_how_much_is_there(tmp_path):
    path = _write(tmp_path / "b", [np.arange(100, dtype=np.float32)])
    name = os.listdir(os.path.join(path, "arrays"))[0]
    with open(os.path.join(path, "arrays", name), "r+b") as handle:
        handle.truncate(200)
    with pytest.raises(BundleError) as error:
        bundle.load(path).array(name.split(".")[0])
    message = str(error.value)
    assert message.count(name) == 1 and "truncated (72 of 400 bytes)" in message


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_tampered_array_with_fixed_up_manifest_is_caught_on_read(tmp_path, compression):
    path = _write(tmp_path / "b", [np.arange(100, dtype=np.float32)], compression)
    manifest_path = os.path.join(path, "manifest.json")
    with open(manifest_path) as handle:
        manifest = json.load(handle)
    digest, entry = next(iter(manifest["arrays"].items()))
    # Replace the array with other data, and update the file hash to match: only the content
    # digest (the file name) can reveal it.
    buffer = io.BytesIO()
    np.save(buffer, np.arange(100, dtype=np.float32) * 2)
    packed = gzip.compress(buffer.getvalue()) if compression == "gzip" else buffer.getvalue()
    with open(os.path.join(path, entry["file"]), "wb") as handle:
        handle.write(packed)
    import hashlib

    from edgeparity.bundle.format import index_digest

    if compression == "gzip":
        entry["file_sha256"] = hashlib.sha256(packed).hexdigest()
    # A determined editor also recomputes the manifest's own digest of its index.
    manifest["index_sha256"] = index_digest(manifest)
    with open(manifest_path, "w") as handle:
        json.dump(manifest, handle)
    loaded = bundle.load(path)
    with pytest.raises(BundleError, match="modified after capture"):
        loaded.array(digest)


def test_rewriting_a_bundle_replaces_it_whole(tmp_path):
    path = _write(tmp_path / "b", [np.zeros(3)])
    _write(tmp_path / "b", [np.ones(3), np.full(3, 2.0)])
    loaded = bundle.load(path)
    assert len(loaded.records) == 2
    assert [n for n in os.listdir(str(tmp_path)) if n != "b"] == []


def test_the_manifest_is_sealed_over_its_own_bytes(tmp_path):
    """manifest.json ends with the sha256 of its own text: one changed byte is refused, even
    one no field check would notice."""
    path = _write(tmp_path / "b", [np.zeros(3, dtype=np.uint8), np.ones(2, dtype=np.float32)])
    manifest_path = os.path.join(path, "manifest.json")
    with open(manifest_path, "rb") as handle:
        raw = handle.read()
    manifest = json.loads(raw.decode("ascii"))
    assert raw.rstrip().endswith('"index_sha256":"{}"}}'.format(manifest["index_sha256"])
                                 .encode())
    bundle.load(path)
    edited = raw.replace(b'"name":"test"', b'"name":"tesT"')
    assert edited != raw
    with open(manifest_path, "wb") as handle:
        handle.write(edited)
    with pytest.raises(BundleError, match="index_sha256"):
        bundle.load(path)


def test_the_seal_of_a_large_manifest_is_checked_beside_the_parse(tmp_path):
    """Over 1 MB the seal is hashed on a thread while the manifest is parsed: the same answer,
    a changed byte refused, the untouched manifest accepted."""
    from edgeparity.bundle.format import SealCheck, seal

    path = _write(tmp_path / "b", [np.zeros(3, dtype=np.uint8)])
    manifest_path = os.path.join(path, "manifest.json")
    with open(manifest_path) as handle:
        manifest = json.load(handle)
    manifest["images_dir"] = "x" * (2 << 20)
    raw = seal(manifest)
    with open(manifest_path, "wb") as handle:
        handle.write(raw)
    assert SealCheck(raw)._thread is not None  # the threaded path is the one under test
    bundle.load(path)
    middle = len(raw) // 2
    with open(manifest_path, "wb") as handle:
        handle.write(raw[:middle] + b"y" + raw[middle + 1:])
    with pytest.raises(BundleError, match="index_sha256"):
        bundle.load(path)


def test_a_manifest_in_the_older_indented_form_still_loads(tmp_path):
    """Bundles written before the seal carry a digest of a canonical re-serialisation."""
    from edgeparity.bundle.format import index_digest

    path = _write(tmp_path / "b", [np.arange(6, dtype=np.uint8)])
    manifest_path = os.path.join(path, "manifest.json")
    with open(manifest_path) as handle:
        manifest = json.load(handle)
    manifest["index_sha256"] = index_digest(manifest)
    with open(manifest_path, "w") as handle:
        json.dump(manifest, handle, indent=1)
    assert len(bundle.load(path).records) == 1
    manifest["name"] = "edited"  # the canonical digest no longer matches
    with open(manifest_path, "w") as handle:
        json.dump(manifest, handle, indent=1)
    with pytest.raises(BundleError, match="index_sha256"):
        bundle.load(path)


@pytest.mark.parametrize("array", [
    np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    np.zeros((0, 3), np.float32),
    np.array(3.5),
    np.arange(5, dtype=">i4"),
    np.array([True, False]),
    np.linspace(0, 1, 7, dtype=np.float16),
    np.ones((1,) * 32, np.int8),
])
def test_stored_npy_files_are_what_np_save_writes(array):
    from edgeparity.arrays import npy_file_size, npy_parts

    expected = io.BytesIO()
    np.save(expected, array, allow_pickle=False)
    assert b"".join(bytes(part) for part in npy_parts(array)) == expected.getvalue()
    # The size a resume expects of a kept file, from the manifest's shape and dtype alone.
    assert npy_file_size(list(array.shape), array.dtype.str) == len(expected.getvalue())


def test_large_arrays_are_written_behind_with_a_bounded_number_of_descriptors(tmp_path):
    from edgeparity.bundle import writer as writer_module

    def open_descriptors():
        return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0

    before = open_descriptors()
    size = writer_module.WRITE_BEHIND_BYTES
    arrays = [np.full(size, index, np.uint8) for index in range(writer_module.WRITE_BEHIND_LAG + 3)]
    writer = BundleWriter(str(tmp_path / "b"))
    for array in arrays + [np.ones(10, np.uint8)]:  # the small one is not written behind
        writer.add_array(array)
        assert len(writer.written) <= writer_module.WRITE_BEHIND_LAG
    assert writer.written
    path = writer.finish({"name": "test"})
    assert not writer.written and open_descriptors() == before
    loaded = bundle.load(path)
    for array in arrays:
        np.testing.assert_array_equal(loaded.array(bundle.array_digest(array)), array)


def test_a_resealed_manifest_still_gets_every_field_check(tmp_path):
    """Anyone can recompute the seal: it proves the bytes were not damaged, not that capture
    wrote them, so a duplicated record or an array without a file is still refused by name."""
    from edgeparity.bundle.format import seal

    path = _write(tmp_path / "b", [np.zeros(3, dtype=np.uint8), np.ones(3, dtype=np.uint8)])
    manifest_path = os.path.join(path, "manifest.json")
    with open(manifest_path) as handle:
        original = json.load(handle)
    for edit, message in ((lambda m: m["records"].append(dict(m["records"][0])), "repeats the key"),
                          (lambda m: next(iter(m["arrays"].values())).pop("file"), "field 'file'")):
        manifest = json.loads(json.dumps(original))
        edit(manifest)
        with open(manifest_path, "wb") as handle:
            handle.write(seal(manifest))
        with pytest.raises(BundleError, match=message):
            bundle.load(path)


def test_an_out_path_under_a_file_is_refused_naming_that_file(tmp_path):
    blocker = tmp_path / "b"
    blocker.write_text("a file, not a folder")
    with pytest.raises(BundleError, match="{} is a file, not a folder".format(blocker)):
        BundleWriter(str(blocker / "deeper" / "bundle"))


def test_a_changed_manifest_is_said_to_be_changed_not_malformed(tmp_path):
    path = _write(tmp_path / "b", [np.zeros(3, dtype=np.uint8)])
    manifest_path = os.path.join(path, "manifest.json")
    with open(manifest_path, "rb") as handle:
        raw = handle.read()
    with open(manifest_path, "wb") as handle:
        handle.write(raw.replace(b'"name":"test"', b'"name":"tesT"'))
    with pytest.raises(BundleError) as caught:
        bundle.load(path)
    assert "manifest.json was changed after capture" in str(caught.value)
    assert "malformed" not in str(caught.value)
