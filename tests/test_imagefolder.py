"""Issue 17 item 6: a torchvision ImageFolder layout (a folder, or its .zip) as a test set.

The oracle is torchvision itself: datasets.ImageFolder with transforms.ToTensor (and Resize,
Normalize) on the same files gives the same tensors, bit for bit, and the same class indices.
ImageFolder's default loader converts every image to RGB; the loader here keeps the image's
own mode (grey L stays 1 channel), which is what the upload path promises.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from compression import loading, models, source
from compression.__main__ import main
from tests import hostile_corpus as hc

tv = pytest.importorskip("torchvision")
Image = pytest.importorskip("PIL.Image")


def own_mode(path: str):
    """ImageFolder's loader without the convert("RGB"): the image as its file holds it."""
    with open(path, "rb") as f:
        img = Image.open(f)
        img.load()
    return img


def oracle(root: Path, *steps) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    ds = tv.datasets.ImageFolder(str(root), loader=own_mode,
                                 transform=tv.transforms.Compose([*steps[:1], tv.transforms.ToTensor(), *steps[1:]]))
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return torch.stack(xs), torch.tensor(ys), ds.classes


def folder(root: Path, classes=("ant", "bee", "cat"), n: int = 4, size=(8, 8), mode: str = "L",
           ext: str = "png", seed: int = 0) -> Path:
    """n random images per class folder (names chosen so that sorted order is not creation order)."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / c / f"{(7 * i) % n:02d}-{c}.{ext}")
    return root


def digits_folder(root: Path, n: int = 40) -> tuple[Path, torch.Tensor, torch.Tensor]:
    """The first n digits test images as grey PNGs in folders 0..9, and the tensors ToTensor reads back."""
    from compression import data

    ds = data.load("digits")
    for i in range(n):
        d = root / str(int(ds.y_test[i]))
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray((ds.x_test[i, 0].numpy() * 255).round().astype(np.uint8), "L").save(d / f"{i:03d}.png")
    x, y, classes = oracle(root)
    assert classes == [str(c) for c in range(10)]
    return root, x, y


def stored_zip(tmp_path: Path, root: Path) -> Path:
    path = tmp_path / f"{root.name}.zip"
    path.write_bytes(loading.zip_folder(root))
    return path


def zoo_upload(data_file: Path, **options: str) -> source.ModelSource:
    return source.upload(models.ensure("mlp-digits"), arch="mlp-digits", data_file=data_file,
                         data_options=options or None)


def test_grey_pngs_read_as_torchvision_imagefolder_with_totensor_bit_for_bit(tmp_path):
    root = folder(tmp_path / "pets")
    want_x, want_y, want_classes = oracle(root)
    x, y, info = loading.read_images(stored_zip(tmp_path, root), "pets.zip", (1, 8, 8))
    assert x.dtype == torch.float32 and x.shape == (12, 1, 8, 8)
    assert torch.equal(x, want_x) and torch.equal(y, want_y)
    assert list(info.classes) == want_classes == ["ant", "bee", "cat"] and info.skipped == ""
    # through the upload path: the Dataset every page reads, class names from the folders
    ds = source.load(zoo_upload(root)).dataset
    assert ds is not None and torch.equal(ds.x_test, want_x) and torch.equal(ds.y_test, want_y)
    assert ds.classes == ("ant", "bee", "cat") and ds.input_shape == (1, 8, 8)
    assert "all 12 images (pixels / 255) in 3 class folders are the test set" in ds.source


def test_rgb_jpegs_resized_and_normalized_as_torchvision_does(tmp_path):
    root = folder(tmp_path / "rgb", classes=("x", "y"), n=3, size=(13, 10), mode="RGB", ext="jpg", seed=1)
    want_x, want_y, _ = oracle(root, tv.transforms.Resize((8, 8)), tv.transforms.Normalize([0.5] * 3, [0.25] * 3))
    x, y, info = loading.read_images(stored_zip(tmp_path, root), "rgb.zip", (3, 8, 8),
                                     {"resize": "1", "normalize": "0.5,0.25"})
    assert x.shape == (6, 3, 8, 8)
    assert torch.equal(x, want_x) and torch.equal(y, want_y)
    assert info.describe() == "pixels / 255, resized to the model's input (bilinear), normalized (x - 0.5) / 0.25"
    plain_x, _, _ = oracle(root)
    x13, _, _ = loading.read_images(stored_zip(tmp_path, root), "rgb.zip", ())  # model shape unknown: as stored
    assert torch.equal(x13, plain_x) and x13.shape == (6, 3, 10, 13)


def test_a_zipped_folder_with_one_enclosing_folder_reads_the_same(tmp_path):
    root = folder(tmp_path / "pets")
    folder(root / "bee" / "sub", classes=("deeper",), n=2, seed=3)  # nested folders count for their class
    (root / "bee" / "zz.png").write_bytes((root / "ant" / "00-ant.png").read_bytes())  # after sub/ as os.walk
    want_x, want_y, _ = oracle(root)
    assert len(want_y) == 15 and want_y.tolist().count(1) == 7
    path = tmp_path / "wrapped.zip"
    with zipfile.ZipFile(path, "w") as z:  # as "Compress folder" makes it: pets/ant/00-ant.png …
        for p in sorted(root.rglob("*.png")):
            z.write(p, f"pets/{p.relative_to(root).as_posix()}")
        z.writestr("__MACOSX/pets/._x.png", b"junk")  # ignored, as are hidden files
    x, y, info = loading.read_images(path, "wrapped.zip", (1, 8, 8))
    assert torch.equal(x, want_x) and torch.equal(y, want_y) and info.skipped == ""


def test_bad_images_are_skipped_with_their_count_in_the_source_line(tmp_path):
    root = folder(tmp_path / "pets")
    want_x, want_y, _ = oracle(root)
    (root / "ant" / "zz-junk.png").write_bytes(b"not a png")
    good = (root / "bee" / "00-bee.png").read_bytes()
    (root / "bee" / "zz-cut.png").write_bytes(good[: len(good) // 2])  # truncated
    (root / "cat" / "zz-fake.jpg").write_bytes(b"\xff\xd8\xff" + bytes(40))
    ds = source.load(zoo_upload(root)).dataset
    assert ds is not None and torch.equal(ds.x_test, want_x) and torch.equal(ds.y_test, want_y)
    assert "(3 images skipped: not readable)" in ds.source, ds.source
    (root / "notes.txt").write_text("hi")  # other files are counted too, by reason
    ds = source.load(zoo_upload(root)).dataset
    assert ds is not None and "(4 files skipped: 1 not PNG/JPEG, 3 not readable)" in ds.source, ds.source


def test_a_decompression_bomb_image_is_skipped_not_decoded(tmp_path):
    root = folder(tmp_path / "pets")
    Image.new("L", (5000, 5000)).save(root / "cat" / "zz-huge.png")  # 25 M pixels, a few KB of PNG
    x, _, info = loading.read_images(stored_zip(tmp_path, root), "pets.zip", (1, 8, 8))
    assert len(x) == 12 and info.skipped == "1 image skipped: over 16,777,216 pixels"


@pytest.mark.parametrize("layout, says", [
    ({}, "holds no PNG/JPEG images in class folders"),
    ({"only/a.png": "L", "only/b.png": "L"}, "one class folder only ('only')"),
    ({"a.png": "L", "b.png": "L"}, "no PNG/JPEG images in class folders"),
    ({"a/1.png": "RGB", "b/1.png": "RGB"}, "is (3, 8, 8) (channels, height, width), but the model expects (1, 8, 8)"),
    ({"a/1.png": "L", "b/1.png": "L16"}, "'b/1.png' is (1, 16, 16) (channels, height, width), but the model "
                                         "expects (1, 8, 8); resizing is an option"),
])
def test_layouts_that_cannot_be_a_test_set_give_one_sentence(tmp_path, layout, says):
    root = tmp_path / "mine"
    root.mkdir()
    for rel, mode in layout.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new(mode[:1] if mode != "RGB" else "RGB", (16, 16) if mode == "L16" else (8, 8)).save(root / rel)
    with pytest.raises(loading.FileRejected) as e:
        zoo_upload(root)
    msg = str(e.value)
    assert msg.startswith("mine.zip was refused: ") and says in msg and "\n" not in msg, msg
    assert not [p for p in loading.uploads_dir().glob("*.zip")]  # a refused test set is deleted


def test_resize_makes_other_sizes_fit_and_each_way_of_reading_is_its_own_link(tmp_path):
    root = folder(tmp_path / "big", size=(16, 12))
    want_x, want_y, _ = oracle(root, tv.transforms.Resize((8, 8)))
    resized = zoo_upload(root, resize="1")
    ds = source.load(resized).dataset
    assert ds is not None and torch.equal(ds.x_test, want_x) and torch.equal(ds.y_test, want_y)
    norm_x, _, _ = oracle(root, tv.transforms.Resize((8, 8)), tv.transforms.Normalize([0.5], [0.5]))
    normalized = zoo_upload(root, resize="1", normalize="0.5,0.5")
    assert normalized.data != resized.data  # the same zip, read another way: another hash
    loading._DECODED_IMAGES.clear()  # as a fresh server process opening both links
    for src, want in ((resized, want_x), (normalized, norm_x)):
        ds = source.load(source.parse(str(src))).dataset
        assert ds is not None and torch.equal(ds.x_test, want)
    with pytest.raises(loading.FileRejected, match="not MEAN,STD"):
        zoo_upload(root, normalize="0.5")


@pytest.mark.parametrize("build, says", [
    (hc.images_path_traversal, "is not a plain relative path"),
    (hc.images_many_members, "it holds 20009 archive members, over the limit of 20000"),
    (hc.images_zip_bomb, "to 1, over the limit of 200 to 1 (a zip bomb)"),
])
def test_hostile_image_zips_are_refused_by_the_zip_header_checks(tmp_path, build, says):
    marker = tmp_path / "pwned"
    path = tmp_path / "hostile.zip"
    path.write_bytes(build(marker))
    with pytest.raises(loading.FileRejected) as e:
        zoo_upload(path)
    msg = str(e.value)
    assert msg.startswith("hostile.zip was refused: ") and says in msg and "\n" not in msg, msg
    assert not marker.exists() and not list(loading.uploads_dir().glob("*.zip"))


def test_a_stored_hostile_zip_opened_by_link_is_revalidated_and_deleted(tmp_path):
    good = zoo_upload(folder(tmp_path / "pets"))
    content = hc.images_path_traversal(tmp_path / "pwned")
    digest = hashlib.sha256(content).hexdigest()
    (loading.uploads_dir() / f"{digest}.zip").write_bytes(content)
    (loading.uploads_dir() / f"{digest}.json").write_text(json.dumps({"name": "colleague.zip"}))
    with pytest.raises(loading.FileRejected, match="colleague.zip was refused: .*not a plain relative path"):
        source.load(source.parse(f"upload:{good.name}.{digest[:16]}"))
    assert not (loading.uploads_dir() / f"{digest}.zip").exists()


def test_cli_evaluate_scores_the_zoo_model_on_an_image_folder(tmp_path, capsys):
    root, x, y = digits_folder(tmp_path / "digits")
    (root / "3" / "broken.png").write_bytes(b"junk")
    model = models.load("mlp-digits")
    with torch.no_grad():
        want = int((model(x).argmax(1) == y).sum()) / len(y)  # the hand computation on torchvision's tensors
    assert main(["evaluate", "--model", "mlp-digits", "--data", str(root), "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["n_test"] == 40 and report["accuracy"] == pytest.approx(want, abs=1e-12)
    assert "1 image skipped: not readable" in err
    assert main(["evaluate", "--model", "mlp-digits", "--data", str(root)]) == 0
    assert f"accuracy   {want:.1%}" in capsys.readouterr().out
    assert main(["evaluate", "--model", "mlp-digits", "--data", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing does not exist" in err[0], err
