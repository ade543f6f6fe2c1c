#!/usr/bin/env python
"""Build the small MNIST sample that ships inside the `vae_nbdev` package.

Reads the four official MNIST files in torchvision's layout (ROOT/MNIST/raw/*-ubyte, uncompressed
or .gz), keeps the first N_TRAIN training and the first N_TEST test digits in file order (no
shuffling, no resampling, pixels untouched), and writes

    vae_nbdev/assets/mnist_sample.npz     x_train (N_TRAIN,28,28) uint8, y_train (N_TRAIN,) uint8,
                                          x_test (N_TEST,28,28) uint8,   y_test (N_TEST,) uint8
    vae_nbdev/assets/MNIST_LICENSE.txt    the MNIST credit and licence, and how the sample was made

The output is byte-for-byte reproducible: the .npz is the same zip-of-.npy container that
`np.savez_compressed` writes, but with fixed zip timestamps (numpy stamps the current time).

    python scripts/make_sample.py --root DIR            # reads DIR/MNIST/raw/
    VAE_NBDEV_DATA=DIR python scripts/make_sample.py    # the same, with the folder from the environment
    python scripts/make_sample.py --root DIR --n-train 10000 --n-test 2000

Each source file must be the official one (its MD5 checksum is checked against the table in vae_nbdev.data).
"""
import argparse
import gzip
import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "vae_nbdev" / "assets"
FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry: a fixed stamp


def find_file(raw: Path, name: str) -> Path:
    "The uncompressed file `name` in `raw`, else its .gz."
    for p in (raw / name, raw / (name + ".gz")):
        if p.is_file(): return p
    raise FileNotFoundError(f"{name} (or {name}.gz) not found in {raw}; expected torchvision's layout "
                            "ROOT/MNIST/raw/ with the four official MNIST files.")


def read_bytes(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def parse_idx(buf: bytes) -> np.ndarray:
    "Parse an IDX file of unsigned bytes: 2 zero bytes, type code 0x08, ndim, then ndim big-endian int32 sizes."
    if buf[0] != 0 or buf[1] != 0 or buf[2] != 0x08:
        raise ValueError(f"not an IDX file of uint8 (magic bytes {buf[:4].hex()})")
    ndim = buf[3]
    shape = tuple(int(s) for s in np.frombuffer(buf, dtype=">i4", count=ndim, offset=4))
    data = np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"IDX header says shape {shape} but the file holds {data.size} values")
    return data.reshape(shape)


def write_npz(path: Path, arrays: dict) -> None:
    "Write `arrays` like np.savez_compressed (deflated .npy members), with fixed timestamps."
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)


LICENSE = """\
MNIST sample shipped with vae_nbdev
===================================

This directory holds a small sample of the MNIST database of handwritten digits.

MNIST was created by Yann LeCun, Corinna Cortes and Christopher J.C. Burges
(http://yann.lecun.com/exdb/mnist/). It is made available under the terms of the
Creative Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0,
https://creativecommons.org/licenses/by-sa/3.0/). The sample below is a subset of it
and is shared under the same licence; the rest of vae_nbdev is under its own licence
(see LICENSE at the top of the repository).

How the sample was made
-----------------------
scripts/make_sample.py in the vae_nbdev repository read the four official MNIST files
and kept, in file order and with pixel values unchanged:

  x_train, y_train : the first {n_train} digits of the training set (train-*-ubyte)
  x_test,  y_test  : the first {n_test} digits of the test set (t10k-*-ubyte)

Images are uint8 arrays of shape (N, 28, 28) (0 = background, 255 = full ink); labels
are uint8 digits 0-9. Nothing was shuffled, resampled, binarized or normalized.

Label counts, digits 0..9:
  train: {train_counts}
  test:  {test_counts}

MD5 of the source files that were read:
{source_md5}

SHA-256 of mnist_sample.npz: {npz_sha256}
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.environ.get("VAE_NBDEV_DATA"),
                    help="folder in torchvision's layout: ROOT/MNIST/raw/*-ubyte (default: $VAE_NBDEV_DATA)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: the package's assets/)")
    ap.add_argument("--n-train", type=int, default=10_000, help="training digits to keep (default: %(default)s)")
    ap.add_argument("--n-test", type=int, default=2_000, help="test digits to keep (default: %(default)s)")
    args = ap.parse_args(argv)
    if not args.root:
        ap.error("no data folder: pass --root DIR or set VAE_NBDEV_DATA=DIR, where DIR/MNIST/raw/ holds the official files")

    raw = Path(args.root).expanduser() / "MNIST" / "raw"
    paths = {k: find_file(raw, name) for k, name in FILES.items()}
    data = {k: read_bytes(p) for k, p in paths.items()}
    sys.path.insert(0, str(HERE.parent))
    from vae_nbdev.data import _OFFICIAL  # the official files' counts and checksums
    for k, p in paths.items():
        n, md5 = _OFFICIAL["mnist"][FILES[k]]
        if hashlib.md5(data[k]).hexdigest() != md5:
            raise SystemExit(f"{p} is not the official {FILES[k]} (MD5 {hashlib.md5(data[k]).hexdigest()}, expected {md5}); "
                             "the sample must come from the official files.")
    full = {k: parse_idx(b) for k, b in data.items()}
    for split in ("train", "test"):
        x, y = full["x_" + split], full["y_" + split]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"unexpected {split} shapes: images {x.shape}, labels {y.shape}")
        if y.max() > 9: raise ValueError(f"{split} labels outside 0..9")
    n = {"train": args.n_train, "test": args.n_test}
    for split, k in n.items():
        if not 0 < k <= len(full["x_" + split]):
            raise ValueError(f"--n-{split}={k} must be between 1 and {len(full['x_' + split])}")

    sample = {f"{a}_{s}": full[f"{a}_{s}"][:n[s]] for a in ("x", "y") for s in ("train", "test")}
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    npz = out / "mnist_sample.npz"
    write_npz(npz, sample)

    # read it back and check it round-trips exactly
    with np.load(npz) as z:
        for k, a in sample.items():
            assert z[k].dtype == np.uint8 and np.array_equal(z[k], a), k

    counts = lambda y: " ".join(str(c) for c in np.bincount(y, minlength=10))
    md5 = "\n".join(f"  {hashlib.md5(p.read_bytes()).hexdigest()}  {p.name}" for p in paths.values())
    sha = hashlib.sha256(npz.read_bytes()).hexdigest()
    (out / "MNIST_LICENSE.txt").write_text(LICENSE.format(
        n_train=n["train"], n_test=n["test"], train_counts=counts(sample["y_train"]),
        test_counts=counts(sample["y_test"]), source_md5=md5, npz_sha256=sha), encoding="utf-8")
    print(f"wrote {npz} ({npz.stat().st_size / 2**20:.2f} MiB, sha256 {sha[:16]}...) and {out / 'MNIST_LICENSE.txt'}")
    for k, a in sample.items(): print(f"  {k}: {a.shape} {a.dtype}")


if __name__ == "__main__":
    main()
