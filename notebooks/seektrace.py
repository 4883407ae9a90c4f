"""seektrace: read seekscope's trace files and checkpoints (safetensors) into numpy, and run `seek`.

A safetensors file is
    8 bytes      N, the header length, unsigned little-endian
    N bytes      JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
                        "__metadata__": {str: str}}
    the rest     the data section; offsets are relative to its start, values little-endian

`load(path)` returns a `SafeTensors`: a dict from tensor name to a numpy array (float32 for the
float dtypes, whatever their width on disk; int32/int64/uint8/bool for the others), with
`.dtypes` (the dtype each tensor had on disk) and `.metadata` (`__metadata__`, with the JSON
strings seek writes there, such as "config", decoded). Masked attention scores are stored as
-inf and come back as -inf.

FP8 decoding follows the OCP 8-bit floating point specification that cuda_fp8.h implements:
E4M3 ("fn": no infinities, one NaN pattern per sign, 0x7F / 0xFF, largest normal 448) and E5M2
(IEEE-like: 0x7C is +inf, largest normal 57344). `decode_fp8(codes, "E4M3")` works on any
uint8 array; `FP8_E4M3_TABLE` and `FP8_E5M2_TABLE` hold all 256 values.

`start(name)` begins a notebook (paths, a scratch folder); `seek(*args)` runs the seek program (the
SEEK environment variable, else ../build/seek) and returns what it printed; `seek_json(*args)` parses
the JSON it prints with --json.

Only numpy is needed (Debian's python3-numpy); run with /usr/bin/python3.
"""

import json
import os
import shutil
import struct
import subprocess

import numpy as np

__all__ = ["SafeTensors", "load", "parse", "decode_fp8", "decode_bf16", "FP8_E4M3_TABLE", "FP8_E5M2_TABLE",
           "start", "seek", "seek_json", "seek_path", "data_path", "read_jsonl", "save_figure"]

# Bytes per element of every dtype seek's safetensors files may hold.
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
               "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

# Header lengths beyond this are a corrupt file, not a real header (seek's own limit is the same order).
MAX_HEADER_BYTES = 100 * 1024 * 1024


def _fp8_table(exponent_bits, mantissa_bits, bias, ieee_specials):
    """All 256 values of an FP8 format, by the definition of a binary floating-point number."""
    table = np.empty(256, dtype=np.float64)
    exponent_max = (1 << exponent_bits) - 1
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        exponent = (code >> mantissa_bits) & exponent_max
        mantissa = code & ((1 << mantissa_bits) - 1)
        if ieee_specials and exponent == exponent_max:  # E5M2: infinities and NaNs as in IEEE 754
            table[code] = sign * np.inf if mantissa == 0 else np.nan
        elif not ieee_specials and exponent == exponent_max and mantissa == (1 << mantissa_bits) - 1:
            table[code] = np.nan  # E4M3 (fn): S.1111.111 is the only NaN; no infinities
        elif exponent == 0:  # subnormal: 0.m x 2^(1 - bias)
            table[code] = sign * mantissa / (1 << mantissa_bits) * 2.0 ** (1 - bias)
        else:  # normal: 1.m x 2^(e - bias)
            table[code] = sign * (1 + mantissa / (1 << mantissa_bits)) * 2.0 ** (exponent - bias)
    return table.astype(np.float32)


FP8_E4M3_TABLE = _fp8_table(4, 3, 7, ieee_specials=False)
FP8_E5M2_TABLE = _fp8_table(5, 2, 15, ieee_specials=True)


def decode_fp8(codes, fmt):
    """uint8 codes -> float32 values; fmt is "E4M3" or "E5M2" (also accepted: "F8_E4M3", "F8_E5M2")."""
    fmt = fmt.upper().replace("F8_", "")
    table = {"E4M3": FP8_E4M3_TABLE, "E5M2": FP8_E5M2_TABLE}.get(fmt)
    if table is None:
        raise ValueError(f"unknown FP8 format '{fmt}' (expected E4M3 or E5M2)")
    return table[np.asarray(codes, dtype=np.uint8)]


def decode_bf16(raw):
    """uint16 bfloat16 bit patterns -> float32: bfloat16 is the upper half of a float32."""
    return (np.asarray(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _decode(raw, dtype, shape):
    """The bytes of one tensor -> a numpy array of that shape."""
    if dtype == "F32":
        values = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F64":
        values = np.frombuffer(raw, dtype="<f8")
    elif dtype == "F16":
        values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    elif dtype == "BF16":
        values = decode_bf16(np.frombuffer(raw, dtype="<u2"))
    elif dtype in ("F8_E4M3", "F8_E5M2"):
        values = decode_fp8(np.frombuffer(raw, dtype=np.uint8), dtype)
    elif dtype in ("I64", "I32", "I16", "I8", "U8"):
        kind = {"I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1"}[dtype]
        values = np.frombuffer(raw, dtype=kind)
    elif dtype == "BOOL":
        values = np.frombuffer(raw, dtype=np.uint8).astype(bool)
    else:
        raise ValueError(f"unknown dtype '{dtype}'")
    return values.reshape(shape).copy()  # a writable array that does not keep the file's buffer alive


class SafeTensors(dict):
    """name -> numpy array, in the file's order, with .dtypes, .shapes and .metadata."""

    def __init__(self):
        super().__init__()
        self.dtypes = {}
        self.metadata = {}
        self.path = None

    def config(self):
        """The model config a trace or checkpoint carries in its metadata, as a dict (or None)."""
        return self.metadata.get("config")

    def __repr__(self):
        rows = [f"{name:40s} {self.dtypes[name]:8s} {list(value.shape)}" for name, value in self.items()]
        return f"SafeTensors({self.path}, {len(self)} tensors)\n" + "\n".join(rows)


def parse(blob, source="<bytes>"):
    """Decodes a whole safetensors file held in memory. Every error names `source` and the field."""
    blob = memoryview(blob)
    if len(blob) < 8:
        raise ValueError(f"{source}: {len(blob)} bytes, shorter than the 8-byte header length")
    (header_length,) = struct.unpack("<Q", blob[:8])
    if header_length > min(len(blob) - 8, MAX_HEADER_BYTES):
        raise ValueError(f"{source}: header length {header_length} runs past the end of the file ({len(blob)} bytes)")
    try:
        header = json.loads(bytes(blob[8:8 + header_length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{source}: header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{source}: header is not a JSON object")
    data = blob[8 + header_length:]
    result = SafeTensors()
    result.path = source
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict):
        raise ValueError(f"{source}: __metadata__ is not an object")
    for key, value in metadata.items():
        # seek stores some metadata as JSON text ("config"); decode what parses as an object or a list.
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        result.metadata[key] = value
    for name, info in header.items():
        where = f"{source}: tensor '{name}'"
        if not isinstance(info, dict):
            raise ValueError(f"{where}: entry is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_SIZES:
            raise ValueError(f"{where}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"{where}: shape {shape!r} is not a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise ValueError(f"{where}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        if not 0 <= begin <= end <= len(data):
            raise ValueError(f"{where}: data_offsets [{begin}, {end}] outside the data section ({len(data)} bytes)")
        count = int(np.prod(shape, dtype=np.int64))
        if count * DTYPE_SIZES[dtype] != end - begin:
            raise ValueError(f"{where}: shape {shape} of {dtype} needs {count * DTYPE_SIZES[dtype]} bytes, "
                             f"data_offsets give {end - begin}")
        result[name] = _decode(data[begin:end], dtype, shape)
        result.dtypes[name] = dtype
    return result


def load(path):
    """Reads a safetensors file (a trace, or a checkpoint's model.safetensors; a directory means
    its model.safetensors)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "model.safetensors")
    with open(path, "rb") as file:
        return parse(file.read(), path)


# --- running seek and finding the project's files ---------------------------------------------

def start(name):
    """The first call of every notebook. Pins $SEEK and $SEEK_DATA to absolute paths, checks that seek
    is built, and moves into a fresh scratch folder for what the notebook writes (traces, runs):
    notebooks/runs/NAME when the notebook was opened from notebooks/ (git ignores it), or the folder
    nbtool.py runs it in ($SEEK_NOTEBOOK_WORKDIR)."""
    os.environ["SEEK"] = os.path.abspath(seek_path())
    os.environ["SEEK_DATA"] = os.path.abspath(data_path())
    if not os.access(os.environ["SEEK"], os.X_OK):
        raise FileNotFoundError(f"{os.environ['SEEK']}: no seek program there; build it first (README, quick start) "
                                "or set SEEK to its path")
    if not os.environ.get("SEEK_NOTEBOOK_WORKDIR"):
        folder = os.path.abspath(os.path.join("runs", name))
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        os.chdir(folder)
    print(f"seek: {os.environ['SEEK']}\ndata: {os.environ['SEEK_DATA']}\nworking in: {os.getcwd()}")


def seek_path():
    """The seek program: $SEEK, else ../build/seek (a notebook opened from notebooks/)."""
    return os.environ.get("SEEK") or os.path.join("..", "build", "seek")


def data_path(*parts):
    """A path under the project's data/ folder: $SEEK_DATA, else ../data."""
    return os.path.join(os.environ.get("SEEK_DATA") or os.path.join("..", "data"), *parts)


def seek(*args, echo=True, check=True):
    """Runs `seek ARGS...` and returns its standard output (progress lines on stderr are dropped).
    A non-zero exit raises with what seek printed, so a notebook cell fails where the command does."""
    command = [seek_path()] + [str(arg) for arg in args]
    if echo:
        print("$ seek " + " ".join(str(arg) for arg in args))
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"seek {' '.join(map(str, args))} exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def seek_json(*args, echo=True):
    """Runs `seek ARGS... --json` and parses what it prints."""
    return json.loads(seek(*args, "--json", echo=echo))


def read_jsonl(path, kind=None):
    """The lines of a JSON-lines log (train.jsonl, grpo.jsonl, a simulator's --out), optionally only
    those whose "kind" is `kind` (lines without "kind" count as "step")."""
    rows = []
    with open(path) as file:
        for line in file:
            if line.strip():
                row = json.loads(line)
                if kind is None or row.get("kind", "step") == kind:
                    rows.append(row)
    return rows


def save_figure(figure, name):
    """Saves a matplotlib figure as $SEEK_FIGURES/NAME.png when SEEK_FIGURES is set (scripts/figures.sh
    sets it to lessons/figures); otherwise does nothing, so running a notebook never writes into the
    source tree."""
    folder = os.environ.get("SEEK_FIGURES")
    if folder:
        os.makedirs(folder, exist_ok=True)
        figure.savefig(os.path.join(folder, name + ".png"), dpi=110, bbox_inches="tight",
                       metadata={"Software": None})  # no version string: the same data gives the same bytes
